"""Toeplitz-embedded normal operator of a NUFFT (Fessler et al. 2005; sigpy ``toeplitz_psf``).

For the sigpy-convention NUFFT ``A`` (:mod:`operators.mri.nufft_jax`) and real weights ``w``,

    (A^H W A x)[n] = prod(N)^-1 sum_n' x[n'] h(n - n'),   h(d) = sum_m w_m exp(2 pi i k_m . d / N),

a convolution whose kernel is needed for ``-N < d < N``. ``h`` is one adjoint NUFFT on the doubled
grid ``2N`` at coordinates ``2 k`` (which lie in ``[-N, N)``, i.e. in range for that grid):
``h(d) = sqrt(prod 2N) * A_2N^H(w)[d + N]``. Zero-padding ``x`` to ``2N`` turns the convolution
into a circular one, applied with FFTs: ``A^H W A x = crop(IFFT(K * FFT(pad(x))))``, with
``K = FFT(ifftshift(h)) / prod(N)`` computed once (Fessler, Lee, Olafsson, Shi & Noll, "Toeplitz-
based iterative image reconstruction for MRI with correction for magnetic field inhomogeneity",
IEEE TSP 53(9), 2005). Its accuracy is that of the adjoint NUFFT used for ``h`` (about ``eps``).
The adjoint uses ``conj(K)``, so the operator is exactly self-consistent even when rounding makes
``K`` not quite real.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from operators.linop import LinearOperator, Shape


def _pad_fft(x: jax.Array, image_shape: Shape) -> jax.Array:
    """FFT of ``x`` zero-padded to ``2N`` (pruned: each axis is padded just before its FFT)."""
    nd = len(image_shape)
    for i, ax in enumerate(range(-nd, 0)):
        widths = [(0, 0)] * x.ndim
        widths[ax] = (0, image_shape[i])
        x = jnp.fft.fft(jnp.pad(x, widths), axis=ax)
    return x


def _ifft_crop(y: jax.Array, image_shape: Shape) -> jax.Array:
    nd = len(image_shape)
    for i, ax in enumerate(range(-nd, 0)):
        y = jax.lax.slice_in_dim(jnp.fft.ifft(y, axis=ax), 0, image_shape[i], axis=ax)
    return y


class ToeplitzNormal(LinearOperator):
    """``x -> crop(IFFT(K * FFT(pad(x))))`` on ``(*batch, *image_shape)`` (kernel ``K`` a leaf)."""

    kernel: jax.Array
    image_shape: Shape = struct.field(pytree_node=False)
    batch_shape: Shape = struct.field(pytree_node=False, default=())
    dtype: Any = struct.field(pytree_node=False, default=jnp.complex64)

    @property
    def in_shape(self) -> Shape:
        return (*self.batch_shape, *self.image_shape)

    out_shape = in_shape

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    out_dtype = in_dtype

    @property
    def name(self) -> str:
        return "ToeplitzNormal"

    def _apply(self, x: jax.Array) -> jax.Array:
        return _circulant(x, self.kernel, self.image_shape, self.dtype)

    def _adjoint(self, y: jax.Array) -> jax.Array:
        return _circulant(y, jnp.conj(self.kernel), self.image_shape, self.dtype)


@partial(jax.jit, static_argnums=(2, 3))
def _circulant(x: jax.Array, kernel: jax.Array, image_shape: Shape, dtype: Any) -> jax.Array:
    z = _pad_fft(x, image_shape) * kernel.astype(dtype)
    return _ifft_crop(z, image_shape).astype(dtype)


def toeplitz_kernel(op: LinearOperator, weights: Any = None) -> jax.Array:
    """The FFT-domain kernel ``K`` of ``op.H @ diag(weights) @ op`` for a NUFFT built here.

    ``op`` is a :class:`~operators.mri.nufft_jax.JaxNUFFT` or
    :class:`~operators.mri.nufft_finufft.FinufftNUFFT` with concrete coordinates; the kernel is
    computed with the same backend and ``eps``. ``weights`` (real, shape ``coord_shape``; default
    ones) are e.g. density-compensation factors.
    """
    from operators.mri.nufft import _build, backend_of

    image_shape = tuple(op.image_shape)
    coords = np.asarray(op.coords, np.float64)
    if weights is None:
        w = np.ones(coords.shape[0])
    else:
        w = np.asarray(weights)
        if w.size != coords.shape[0] or np.iscomplexobj(w):
            raise ValueError(
                f"Toeplitz weights must be real with one value per sample: expected "
                f"{tuple(op.coord_shape)}, found {w.shape} {w.dtype}"
            )
        w = w.reshape(-1).astype(np.float64)
    big = tuple(2 * n for n in image_shape)
    op2 = _build(2.0 * coords, big, op.eps, backend_of(op), op.dtype, ())
    h = op2.H(jnp.asarray(w, op.dtype)) * np.sqrt(float(np.prod(big)))
    c = jnp.fft.ifftshift(h)
    return (jnp.fft.fftn(c) / float(np.prod(image_shape))).astype(op.dtype)


def toeplitz_normal(op: LinearOperator, weights: Any = None) -> ToeplitzNormal:
    """``op.H @ diag(weights) @ op`` as a :class:`ToeplitzNormal` (``weights=None``: ``op.N``)."""
    return ToeplitzNormal(
        toeplitz_kernel(op, weights), tuple(op.image_shape), tuple(op.batch_shape), op.dtype
    )
