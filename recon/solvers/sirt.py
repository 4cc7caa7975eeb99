"""SIRT (simultaneous iterative reconstruction technique) for any linear operator.

``x_{k+1} = P(x_k + C A^H R (y - A x_k))`` with ``R = diag(1 / A 1)`` (inverse row sums) and
``C = diag(1 / A^H 1)`` (inverse column sums), as in ASTRA's SIRT (Gregor & Benson, IEEE TMI
27(7), 2008, show it converges to a weighted least-squares solution); ``P`` clips to ``x >= 0``
when ``nonneg``. Meant for operators with non-negative entries (CT projectors). A ``lax.while_loop``
stops after ``maxiter`` iterations or when the relative update falls to ``tol``; the iteration
count is returned.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from operators.linop import LinearOperator


class SIRTResult(NamedTuple):
    x: jax.Array
    iterations: jax.Array


def sirt(
    A: LinearOperator,
    y: jax.Array,
    maxiter: int = 100,
    tol: float = 0.0,
    nonneg: bool = False,
    x0: jax.Array | None = None,
) -> SIRTResult:
    """Run SIRT on ``A x = y``; returns ``SIRTResult(x, iterations)``."""
    y = jnp.asarray(y)
    if tuple(y.shape) != tuple(A.out_shape):
        raise ValueError(f"data has shape {tuple(y.shape)}, the operator expects {A.out_shape}")
    y = y.astype(A.out_dtype)
    rdt = jnp.finfo(A.in_dtype).dtype
    eps = jnp.finfo(rdt).eps
    row = jnp.real(A(jnp.ones(A.in_shape, A.in_dtype)))
    col = jnp.real(A.H(jnp.ones(A.out_shape, A.out_dtype)))
    # sums below ``floor`` of the largest are treated as zero (rays that miss the image, or the
    # ringing tails of a band-limited model), so their inverse cannot blow up
    floor = jnp.asarray(1e-3, rdt)
    row_ok = row > floor * jnp.max(row)
    col_ok = col > floor * jnp.max(col)
    r_inv = jnp.where(row_ok, 1.0 / jnp.where(row_ok, row, 1.0), 0.0).astype(rdt)
    c_inv = jnp.where(col_ok, 1.0 / jnp.where(col_ok, col, 1.0), 0.0).astype(rdt)
    x = jnp.zeros(A.in_shape, A.in_dtype) if x0 is None else jnp.asarray(x0, A.in_dtype)

    def step(x):
        x_new = x + c_inv * A.H(r_inv * (y - A(x)))
        if nonneg:
            x_new = jnp.maximum(jnp.real(x_new), 0).astype(A.in_dtype)
        return x_new.astype(A.in_dtype)

    def cond(state):
        _, k, change = state
        return (k < maxiter) & (change > tol)

    def body(state):
        x, k, _ = state
        x_new = step(x)
        change = jnp.linalg.norm(x_new - x) / jnp.maximum(jnp.linalg.norm(x_new), eps)
        return x_new, k + 1, change.astype(rdt)

    x, k, _ = jax.lax.while_loop(cond, body, (x, jnp.asarray(0), jnp.asarray(jnp.inf, rdt)))
    return SIRTResult(x, k)
