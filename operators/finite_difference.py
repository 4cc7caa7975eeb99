"""Finite-difference gradient as a LinearOperator (for total variation), N-D, real or complex.

``G x = stack_d (x[i + e_d] - x[i])`` over the chosen ``axes``, with the last difference along each
axis set to zero (Neumann boundary, as in Chambolle, "An algorithm for total variation
minimization and applications", JMIV 20, 2004). Output shape ``(len(axes), *shape)``.
The adjoint is the negative divergence, written by hand (a shift and a subtraction per axis); the
coefficients are real, so it is the Hermitian adjoint for complex images too. ``||G||² <= 4
len(axes)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from operators.linop import LinearOperator


class FiniteDifference(LinearOperator):
    """Forward differences along ``axes`` of arrays of ``shape_``; zero at the far boundary."""

    shape_: tuple[int, ...] = struct.field(pytree_node=False)
    axes: tuple[int, ...] = struct.field(pytree_node=False)
    dtype: Any = struct.field(pytree_node=False, default=jnp.float32)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.shape_)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (len(self.axes), *self.shape_)

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    out_dtype = in_dtype

    def _apply(self, x: jax.Array) -> jax.Array:
        grads = []
        for ax in self.axes:
            d = jnp.diff(x, axis=ax)
            pad = [(0, 0)] * x.ndim
            pad[ax] = (0, 1)
            grads.append(jnp.pad(d, pad))
        return jnp.stack(grads).astype(self.out_dtype)

    def _adjoint(self, g: jax.Array) -> jax.Array:
        out = jnp.zeros(self.in_shape, self.in_dtype)
        for k, ax in enumerate(self.axes):
            gk = g[k]
            n = gk.shape[ax]
            # drop the (zero) last difference, then -div: out[i] = g[i-1] - g[i]
            inner = jax.lax.slice_in_dim(gk, 0, n - 1, axis=ax)
            pad_prev = [(0, 0)] * gk.ndim
            pad_prev[ax] = (1, 0)
            pad_next = [(0, 0)] * gk.ndim
            pad_next[ax] = (0, 1)
            out = out + jnp.pad(inner, pad_prev) - jnp.pad(inner, pad_next)
        return out.astype(self.in_dtype)


def finite_difference(
    shape: Sequence[int], axes: Sequence[int] | None = None, dtype=jnp.float32
) -> FiniteDifference:
    """Gradient operator on arrays of ``shape`` along ``axes`` (default: all axes)."""
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"shape must be a tuple of positive integers, found {shape!r}")
    if axes is None:
        axes = tuple(range(len(shape)))
    axes = tuple(int(a) % len(shape) for a in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"axes must be distinct, found {axes!r}")
    return FiniteDifference(shape, axes, np.dtype(dtype))
