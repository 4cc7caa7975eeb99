"""Orthogonal Daubechies wavelet transform in JAX, as a :class:`~operators.linop.LinearOperator`.

One level along one axis with the periodised filter bank (Mallat, "A Wavelet Tour of Signal
Processing", ch. 7; Daubechies, "Ten Lectures on Wavelets", 1992): for decomposition filters
``h`` (low pass) and ``g`` (high pass) of even length ``L``,

    a[k] = sum_j h[j] x[(2k + L/2 - j) mod n],      d[k] = sum_j g[j] x[(2k + L/2 - j) mod n],

which is PyWavelets' ``mode="periodization"`` convention (the test checks the coefficients
against ``pywt.wavedec2``). For Daubechies filters the map ``x -> (a, d)`` is orthogonal, so the
adjoint written here (the transposed filter bank) is also the exact inverse. The 2-D transform
applies it along the last two axes and recurses on the low-low block; coefficients are packed in
the usual "wavelet image" layout of the input's shape: ``[[LL, LH], [HL, HH]]`` at every level
(``L``/``H`` = low/high along axis 0, then axis 1).

Written in JAX (rather than calling PyWavelets) so that it jit-compiles, vmaps over slices and is
differentiable: the FISTA L1-wavelet solver runs entirely inside one compiled loop.

Sizes: every level halves the array, so each axis must be divisible by ``2**levels``. If it is not,
the operator zero-pads the image to the next multiple (``out_shape`` is then larger than
``in_shape``); ``W^H W = I`` still holds (an isometry), but ``W W^H`` is then a projection.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from operators.linop import LinearOperator, Shape


def _filters(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Decomposition low/high-pass filters of the Daubechies wavelet ``name`` (e.g. "db4").

    The filters are taken from PyWavelets (a declared dependency; sigpy needs it too), so that
    the transform matches its conventions exactly; they are plain constants at trace time.
    """
    try:
        import pywt
    except ImportError as err:  # pragma: no cover - PyWavelets is a declared dependency
        raise ImportError("the wavelet filters are read from PyWavelets (pip install pywavelets)"
                          ) from err
    if not name.startswith(("db", "haar", "sym", "coif")):
        raise ValueError(f"wavelet {name!r}: expected an orthogonal wavelet such as 'db4'")
    w = pywt.Wavelet(name)
    if not w.orthogonal:
        raise ValueError(f"wavelet {name!r} is not orthogonal")
    return np.asarray(w.dec_lo, np.float64), np.asarray(w.dec_hi, np.float64)


def _analysis_axis(x: jax.Array, lo: np.ndarray, hi: np.ndarray, axis: int) -> jax.Array:
    """One periodised analysis step along ``axis``: returns ``concat(a, d)`` along that axis."""
    x = jnp.moveaxis(x, axis, -1)
    n = x.shape[-1]
    poly = (x[..., 0::2], x[..., 1::2])
    length = len(lo)
    off = length // 2
    a = jnp.zeros((*x.shape[:-1], n // 2), x.dtype)
    d = jnp.zeros_like(a)
    for j in range(length):
        t = off - j
        phase = t % 2
        shift = (t - phase) // 2
        v = jnp.roll(poly[phase], -shift, axis=-1)
        a = a + float(lo[j]) * v  # Python floats are weakly typed: dtype is preserved
        d = d + float(hi[j]) * v
    return jnp.moveaxis(jnp.concatenate([a, d], axis=-1), -1, axis)


def _synthesis_axis(c: jax.Array, lo: np.ndarray, hi: np.ndarray, axis: int) -> jax.Array:
    """Transpose (= inverse) of :func:`_analysis_axis`."""
    c = jnp.moveaxis(c, axis, -1)
    n = c.shape[-1]
    a, d = c[..., : n // 2], c[..., n // 2 :]
    even = jnp.zeros_like(a)
    odd = jnp.zeros_like(a)
    length = len(lo)
    off = length // 2
    for j in range(length):
        t = off - j
        phase = t % 2
        shift = (t - phase) // 2
        v = jnp.roll(float(lo[j]) * a + float(hi[j]) * d, shift, axis=-1)
        if phase == 0:
            even = even + v
        else:
            odd = odd + v
    x = jnp.stack([even, odd], axis=-1).reshape((*c.shape[:-1], n))
    return jnp.moveaxis(x, -1, axis)


def max_level(shape: Shape, wavelet: str = "db4") -> int:
    """PyWavelets' default depth ``floor(log2(min(shape) / (L - 1)))`` (at least 1)."""
    length = len(_filters(wavelet)[0])
    return max(1, math.floor(math.log2(min(shape) / (length - 1))))


class Wavelet(LinearOperator):
    """Multi-level orthogonal 2-D wavelet transform over the last two axes of ``in_shape``.

    ``W(x)`` gives the packed coefficients; ``W.H`` is the exact adjoint and, when no padding is
    needed, the exact inverse (``W.H @ W == W @ W.H == I``).
    """

    in_shape_: Shape = struct.field(pytree_node=False)
    wavelet: str = struct.field(pytree_node=False, default="db4")
    levels: int = struct.field(pytree_node=False, default=0)
    dtype: Any = struct.field(pytree_node=False, default=jnp.complex64)

    @property
    def in_shape(self) -> Shape:
        return tuple(self.in_shape_)

    @property
    def n_levels(self) -> int:
        return self.levels if self.levels > 0 else max_level(self.in_shape[-2:], self.wavelet)

    @property
    def out_shape(self) -> Shape:
        m = 2**self.n_levels
        h, w = self.in_shape[-2:]
        return (*self.in_shape[:-2], -(-h // m) * m, -(-w // m) * m)

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    out_dtype = in_dtype

    def _apply(self, x: jax.Array) -> jax.Array:
        lo, hi = _filters(self.wavelet)
        oh, ow = self.out_shape[-2:]
        h, w = self.in_shape[-2:]
        if (oh, ow) != (h, w):
            pad = [(0, 0)] * (x.ndim - 2) + [(0, oh - h), (0, ow - w)]
            x = jnp.pad(x, pad)
        for lev in range(self.n_levels):
            bh, bw = oh >> lev, ow >> lev
            block = x[..., :bh, :bw]
            block = _analysis_axis(_analysis_axis(block, lo, hi, -2), lo, hi, -1)
            x = x.at[..., :bh, :bw].set(block)
        return x

    def _adjoint(self, c: jax.Array) -> jax.Array:
        lo, hi = _filters(self.wavelet)
        oh, ow = self.out_shape[-2:]
        h, w = self.in_shape[-2:]
        for lev in reversed(range(self.n_levels)):
            bh, bw = oh >> lev, ow >> lev
            block = c[..., :bh, :bw]
            block = _synthesis_axis(_synthesis_axis(block, lo, hi, -1), lo, hi, -2)
            c = c.at[..., :bh, :bw].set(block)
        return c[..., :h, :w]


def wavelet(shape: Shape, name: str = "db4", levels: int = 0, dtype: Any = jnp.complex64
            ) -> Wavelet:
    """Factory: :class:`Wavelet` on images of ``shape`` (``levels=0``: PyWavelets' default)."""
    if len(shape) < 2:
        raise ValueError(f"wavelet transform needs at least 2-D images, got shape {shape}")
    _filters(name)
    return Wavelet(tuple(int(s) for s in shape), name, int(levels), dtype)
