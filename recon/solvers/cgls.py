"""CGLS: conjugate gradients on the normal equations ``A^H A x = A^H y`` without forming them.

Hestenes & Stiefel (J. Res. NBS 49, 1952), in the numerically preferable CGLS arrangement
(Björck, *Numerical Methods for Least Squares Problems*, SIAM 1996, §7.4): it iterates on the
residual ``r = y - A x`` and ``s = A^H r``. Works for any linear operator, real or complex, in a
``lax.while_loop`` that stops when ``||A^H r|| <= tol ||A^H y||`` or after ``maxiter`` steps;
returns the iteration count. Early stopping regularises (semi-convergence).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from operators.linop import LinearOperator


class CGLSResult(NamedTuple):
    x: jax.Array
    iterations: jax.Array
    residual: jax.Array  # ||A^H (y - A x)|| / ||A^H y|| at exit


def cgls(
    A: LinearOperator,
    y: jax.Array,
    maxiter: int = 50,
    tol: float = 0.0,
    x0: jax.Array | None = None,
) -> CGLSResult:
    """Least-squares solution of ``A x ≈ y`` by CGLS."""
    y = jnp.asarray(y)
    if tuple(y.shape) != tuple(A.out_shape):
        raise ValueError(f"data has shape {tuple(y.shape)}, the operator expects {A.out_shape}")
    y = y.astype(A.out_dtype)
    rdt = jnp.finfo(A.in_dtype).dtype
    x = jnp.zeros(A.in_shape, A.in_dtype) if x0 is None else jnp.asarray(x0, A.in_dtype)
    r = y - A(x)
    s = A.H(r)
    gamma = jnp.real(jnp.vdot(s, s)).astype(rdt)
    ref = jnp.maximum(jnp.linalg.norm(A.H(y)).astype(rdt), jnp.finfo(rdt).tiny)
    tiny = jnp.finfo(rdt).tiny

    def cond(state):
        _, _, _, _, gamma, k = state
        return (k < maxiter) & (jnp.sqrt(gamma) > tol * ref) & (gamma > tiny)

    def body(state):
        x, r, s, p, gamma, k = state
        q = A(p)
        alpha = gamma / jnp.maximum(jnp.real(jnp.vdot(q, q)).astype(rdt), tiny)
        x = x + alpha * p
        r = r - alpha * q
        s = A.H(r)
        gamma_new = jnp.real(jnp.vdot(s, s)).astype(rdt)
        p = s + (gamma_new / gamma) * p
        return x, r, s, p.astype(A.in_dtype), gamma_new, k + 1

    state = (x, r, s, s, gamma, jnp.asarray(0))
    x, _, _, _, gamma, k = jax.lax.while_loop(cond, body, state)
    return CGLSResult(x, k, jnp.sqrt(gamma) / ref)
