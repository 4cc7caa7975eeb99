"""Non-Cartesian MRI operators: ``nufft(coords, image_shape)`` and ``nufft_sense(maps, coords)``.

Convention (identical to ``sigpy.nufft``, so sigpy's trajectories work unchanged): ``coords``
has shape ``(..., d)`` with ``d`` in {1, 2, 3}, ``coords[..., i]`` in cycles per field of view
along image axis ``i``, each within ``[-N_i/2, N_i/2)``; for an image ``x`` of
shape ``N``,

    A(x)[m] = prod(N)^(-1/2) sum_n x[n] exp(-2 pi i sum_i coords[m, i] (n_i - N_i // 2) / N_i),

and ``A(x)`` has shape ``coords.shape[:-1]`` (the trajectory's own layout, e.g. spokes x readout;
flatten ``coords`` to ``(M, d)`` for a flat output).

Two backends behind one interface (``backend=``):

- ``"jax"``: pure-JAX Kaiser-Bessel gridding (:mod:`operators.mri.nufft_jax`); runs on any JAX
  device including TPU; its adjoint is the exact transpose of its forward.
- ``"finufft"``: jax-finufft (:mod:`operators.mri.nufft_finufft`); fastest on CPU; adjoint exact
  only to ``eps``.

The default is ``"finufft"`` when ``jax_finufft`` imports and JAX's default device is not a TPU,
``"jax"`` otherwise. Both honour the requested relative error ``eps`` (checked against an exact
NUDFT in the tests). ``A.N`` is the Toeplitz-embedded normal operator
(:mod:`operators.mri.toeplitz`) unless ``toeplitz=False``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from operators.linop import Compose, LinearOperator, Multiply, Shape
from operators.mri.nufft_finufft import FinufftNUFFT
from operators.mri.nufft_finufft import available as finufft_available
from operators.mri.nufft_jax import JaxNUFFT

BACKENDS = ("jax", "finufft")


def default_backend() -> str:
    """``"finufft"`` where jax-finufft imports and the default JAX device is not a TPU."""
    if finufft_available() and jax.default_backend() != "tpu":
        return "finufft"
    return "jax"


def _shape(s: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(v)) for v in s) + ")"


def check_coords(coords: Any, image_shape: Sequence[int]) -> np.ndarray:
    """Validate ``coords`` against ``image_shape``; return them as a float64 NumPy array.

    Raises one ``ValueError`` naming both shapes when the dimensionality, shape, dtype or range
    (``[-N_i/2, N_i/2)``) is wrong.
    """
    try:
        image_shape = tuple(int(n) for n in image_shape)
    except TypeError as err:
        raise ValueError(f"image_shape must be a tuple of ints, got {image_shape!r}") from err
    if isinstance(coords, jax.core.Tracer):
        raise ValueError(
            "NUFFT coordinates must be concrete arrays (the interpolation plan is precomputed); "
            "build the operator outside jit and pass it in as an argument"
        )
    c = np.asarray(coords)
    where = f"coords of shape {_shape(c.shape)} for image shape {_shape(image_shape)}"
    if not 1 <= len(image_shape) <= 3 or min(image_shape, default=0) < 1:
        raise ValueError(f"NUFFT needs a 1-, 2- or 3-D image shape; got {where}")
    if c.ndim < 2 or c.shape[-1] != len(image_shape):
        raise ValueError(
            f"NUFFT expected coords of shape (..., {len(image_shape)}) (last axis = dimension); "
            f"got {where}"
        )
    if np.iscomplexobj(c) or not np.issubdtype(c.dtype, np.number):
        raise ValueError(f"NUFFT coords must be real numbers; got dtype {c.dtype} in {where}")
    c = c.astype(np.float64)
    if c.size == 0:
        raise ValueError(f"NUFFT needs at least one sample; got {where}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"NUFFT coords contain NaN or Inf; got {where}")
    n = np.asarray(image_shape, np.float64)
    lo, hi = c.reshape(-1, c.shape[-1]).min(0), c.reshape(-1, c.shape[-1]).max(0)
    bad = (lo < -n / 2) | (hi >= n / 2)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(
            f"NUFFT coords must lie in [-N/2, N/2) per axis (cycles per FOV, sigpy's units); "
            f"axis {i} spans [{lo[i]:g}, {hi[i]:g}] but N = {image_shape[i]}; got {where}"
        )
    return c


def _check_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.complex64), np.dtype(np.complex128)):
        raise ValueError(f"NUFFT dtype must be complex64 or complex128, got {dt}")
    return dt


def _build(
    coords: np.ndarray, image_shape: Shape, eps: float, backend: str, dtype: Any, batch: Shape
) -> LinearOperator:
    if backend == "jax":
        return JaxNUFFT.build(coords, image_shape, eps, dtype, batch)
    return FinufftNUFFT.build(coords, image_shape, eps, dtype, batch)


def backend_of(op: LinearOperator) -> str:
    """``"jax"`` or ``"finufft"`` for an operator built by :func:`nufft`."""
    return "jax" if isinstance(op, JaxNUFFT) else "finufft"


def _resolve_backend(backend: str | None) -> str:
    if backend is None:
        return default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"NUFFT backend must be one of {BACKENDS} or None, got {backend!r}")
    if backend == "finufft" and not finufft_available():
        raise ValueError("NUFFT backend 'finufft' requested but jax_finufft does not import")
    return backend


def nufft(
    coords: Any,
    image_shape: Sequence[int],
    eps: float = 1e-4,
    backend: str | None = None,
    *,
    dtype: Any = np.complex64,
    toeplitz: bool = True,
    batch_shape: Sequence[int] = (),
) -> LinearOperator:
    """NUFFT operator ``(*batch_shape, *image_shape) -> (*batch_shape, *coords.shape[:-1])``.

    Args:
        coords: ``(..., d)`` sample positions in cycles per FOV, in ``[-N/2, N/2)`` (sigpy).
        image_shape: ``(N_1, ..., N_d)``.
        eps: requested relative error (both backends honour it; complex64 cannot go below ~1e-6).
        backend: ``"jax"``, ``"finufft"`` or ``None`` (see :func:`default_backend`).
        dtype: complex64 or complex128.
        toeplitz: precompute the Toeplitz kernel so that ``A.N`` is FFT-based (one adjoint NUFFT
            on a doubled grid at build time).
        batch_shape: leading axes transformed independently with the same trajectory (coils).
    """
    if not 0.0 < float(eps) < 1.0:
        raise ValueError(f"NUFFT eps must be in (0, 1), got {eps}")
    coords = check_coords(coords, image_shape)
    image_shape = tuple(int(n) for n in image_shape)
    backend = _resolve_backend(backend)
    dt = _check_dtype(dtype)
    batch = tuple(int(b) for b in batch_shape)
    op = _build(coords, image_shape, float(eps), backend, dt, batch)
    if toeplitz:
        from operators.mri.toeplitz import toeplitz_kernel

        op = op.replace(toeplitz_kernel=toeplitz_kernel(op))
    return op


class SenseNUFFT(LinearOperator):
    """Non-Cartesian SENSE ``x -> NUFFT(maps * x)``: ``image_shape -> (C, *coord_shape)``.

    ``A.H y = sum_c conj(maps_c) NUFFT^H(y_c)``; ``A.N = S^H T S`` with ``T`` the (Toeplitz, when
    available) normal operator of the coil-batched NUFFT.
    """

    maps: jax.Array
    op: LinearOperator

    @property
    def in_shape(self) -> Shape:
        return tuple(self.maps.shape[1:])

    @property
    def out_shape(self) -> Shape:
        return tuple(self.op.out_shape)

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(self.op.in_dtype)

    out_dtype = in_dtype

    @property
    def name(self) -> str:
        return f"SenseNUFFT[{self.op.name}]"

    def _apply(self, x: jax.Array) -> jax.Array:
        return self.op._apply(self.maps * x[None])

    def _adjoint(self, y: jax.Array) -> jax.Array:
        return jnp.sum(jnp.conj(self.maps) * self.op._adjoint(y), axis=0)

    @property
    def N(self) -> LinearOperator:
        coils = Multiply(self.maps, self.in_shape, self.in_dtype)
        return Compose(coils.H, Compose(self.op.N, coils))


def nufft_sense(
    maps: Any,
    coords: Any,
    eps: float = 1e-4,
    backend: str | None = None,
    *,
    toeplitz: bool = True,
) -> SenseNUFFT:
    """Non-Cartesian SENSE: image ``maps.shape[1:]`` -> k-space ``(C, *coords.shape[:-1])``.

    ``maps``: coil sensitivities ``(C, *image_shape)``, complex64 or complex128 (the operator's
    dtype). Other arguments as :func:`nufft`.
    """
    maps = jnp.asarray(maps)
    if maps.ndim not in (2, 3, 4) or not jnp.issubdtype(maps.dtype, jnp.complexfloating):
        raise ValueError(
            f"nufft_sense expected complex coil maps (C, *image_shape) with a 1-3-D image; got "
            f"maps of shape {_shape(maps.shape)} and dtype {maps.dtype}"
        )
    image_shape = tuple(maps.shape[1:])
    c = np.asarray(coords)
    if c.ndim < 2 or c.shape[-1] != len(image_shape):
        raise ValueError(
            f"nufft_sense: coords of shape {_shape(c.shape)} do not match maps of shape "
            f"{_shape(maps.shape)}: expected coords (..., {len(image_shape)})"
        )
    op = nufft(
        coords, image_shape, eps, backend, dtype=maps.dtype, toeplitz=toeplitz,
        batch_shape=(maps.shape[0],),
    )
    return SenseNUFFT(maps, op)


__all__ = ["BACKENDS", "SenseNUFFT", "check_coords", "default_backend", "nufft", "nufft_sense"]
