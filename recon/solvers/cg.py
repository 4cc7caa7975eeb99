"""Conjugate gradients for Hermitian positive (semi)definite systems, and CG-SENSE.

:func:`cg` solves ``(N + lam I) x = b`` for a Hermitian positive semidefinite ``N`` (Hestenes &
Stiefel, J. Res. NBS 49:409, 1952) in a ``lax.while_loop`` that stops when
``||r|| <= tol ||b||`` or after ``maxiter`` steps, and returns the iteration count and the
relative residual. It is wrapped in ``lax.custom_linear_solve`` so that gradients through the
solution are implicit (one more CG solve; the transpose of a Hermitian ``N`` is ``conj(N)``, so
the transposed solve conjugates around the same CG — ``symmetric=True`` would be wrong for complex
systems), not unrolled through the loop —
the same mechanism as ``jax.scipy.sparse.linalg.cg``, which we do not call directly only because
it does not report how many iterations it ran.

:func:`cg_sense` is CG-SENSE (Pruessmann et al., "Advances in sensitivity encoding with arbitrary
k-space trajectories", MRM 46:638, 2001) with a Tikhonov term:

    x = argmin ||A x - y||² + lam ||x||²   <=>   (A^H A + lam I) x = A^H y,

for any linear operator ``A`` (Cartesian or non-Cartesian SENSE). The Tikhonov weight is already
scale-invariant (scaling ``y`` scales ``x`` by the same factor); it is relative to ``||A^H A||``,
which is ~1 for SENSE with normalised coil maps and a binary mask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from operators.linop import LinearOperator


class CGResult(NamedTuple):
    x: jax.Array
    iterations: jax.Array
    residual: jax.Array  # ||r|| / ||b|| at exit


def _dot(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.real(jnp.vdot(a, b))


def _cg_loop(
    matvec: Callable[[jax.Array], jax.Array], b: jax.Array, x0: jax.Array, tol: float,
    maxiter: int,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    rdt = jnp.finfo(b.dtype).dtype
    bnorm2 = _dot(b, b)
    stop2 = (jnp.asarray(tol, rdt) ** 2) * bnorm2
    r = b - matvec(x0)
    rr = _dot(r, r)

    def cond(state):
        _, _, _, rr, k = state
        return (rr > stop2) & (k < maxiter)

    def body(state):
        x, r, p, rr, k = state
        ap = matvec(p)
        alpha = (rr / jnp.maximum(_dot(p, ap), jnp.finfo(rdt).tiny)).astype(rdt)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = _dot(r, r)
        p = r + (rr_new / jnp.maximum(rr, jnp.finfo(rdt).tiny)).astype(rdt) * p
        return x, r, p, rr_new, k + 1

    x, _, _, rr, k = jax.lax.while_loop(cond, body, (x0, r, r, rr, jnp.asarray(0, jnp.int32)))
    rel = jnp.sqrt(rr / jnp.maximum(bnorm2, jnp.finfo(rdt).tiny))
    return x, (k, rel)


def cg(
    normal: LinearOperator | Callable[[jax.Array], jax.Array],
    b: jax.Array,
    x0: jax.Array | None = None,
    *,
    lam: Any = 0.0,
    tol: float = 1e-5,
    maxiter: int = 50,
) -> CGResult:
    """Solve ``(normal + lam I) x = b`` by CG; ``normal`` Hermitian PSD (operator or callable)."""
    b = jnp.asarray(b)
    if isinstance(normal, LinearOperator) and tuple(normal.in_shape) != tuple(b.shape):
        raise ValueError(f"cg: right-hand side has shape {b.shape}, operator takes "
                         f"{tuple(normal.in_shape)}")
    apply = normal._apply if isinstance(normal, LinearOperator) else normal
    rdt = jnp.finfo(b.dtype).dtype
    lam = jnp.asarray(lam, rdt)

    def matvec(v):
        return (apply(v) + lam * v).astype(b.dtype)

    x0 = jnp.zeros_like(b) if x0 is None else jnp.asarray(x0, b.dtype)

    def solve(mv, rhs):
        return _cg_loop(mv, rhs, x0, tol, maxiter)

    def transpose_solve(_, rhs):
        # N^T = conj(N) for Hermitian N: solve N conj(x) = conj(rhs)
        x, aux = _cg_loop(matvec, jnp.conj(rhs), jnp.zeros_like(rhs), tol, maxiter)
        return jnp.conj(x), aux

    x, (k, rel) = jax.lax.custom_linear_solve(
        matvec, b, solve, transpose_solve, has_aux=True
    )
    return CGResult(x, k, rel)


def cg_sense(
    A: LinearOperator, y: jax.Array, *, lam: Any = 1e-3, tol: float = 0.0, maxiter: int = 50,
    x0: jax.Array | None = None,
) -> CGResult:
    """CG-SENSE with Tikhonov weight ``lam``: solves ``(A^H A + lam I) x = A^H y``."""
    y = jnp.asarray(y)
    if tuple(y.shape) != tuple(A.out_shape):
        raise ValueError(f"cg_sense: data has shape {y.shape}, operator expects "
                         f"{tuple(A.out_shape)}")
    b = A.H(y.astype(A.out_dtype))
    return cg(A.N, b, x0, lam=lam, tol=tol, maxiter=maxiter)
