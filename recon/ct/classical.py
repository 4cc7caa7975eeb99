"""Iterative classical CT reconstruction for ``recon ct --method tv|sirt|cgls``.

- ``tv``: ``argmin_x 0.5 ||A x - y||^2 + lam_abs TV(x)``, ``x >= 0``, by Chambolle-Pock
  (:func:`recon.solvers.pdhg.pdhg_tv`; Sidky, Jorgensen & Pan, Phys. Med. Biol. 57:3065, 2012).
  The weight is relative to the data scale: ``lam_abs = lam * mean(|y|)``. Scaling the data by
  ``c`` scales the minimiser by ``c`` exactly when ``lam_abs`` scales by ``c`` (the data term is
  quadratic, TV is 1-homogeneous), so a relative weight keeps its meaning across units. The
  default ``lam = 0.1`` gives ``lam_abs`` of about 1.9 on the dival ellipses protocol (mean
  sinogram value 18.9), where the validation-tuned absolute weight is 2.0 (BENCHMARKS.md).
- ``sirt``: simultaneous iterative reconstruction (:func:`recon.solvers.sirt.sirt`, Gregor &
  Benson, IEEE TMI 27:918, 2008), ``x >= 0``.
- ``cgls``: least squares by conjugate gradients on the normal equations
  (:func:`recon.solvers.cgls.cgls`); early stopping (``iters``) is its only regularisation.

All three are pure JAX: each slice is one jitted solve, vmapped over a batch of slices.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from operators.linop import LinearOperator

CT_ITERATIVE = ("tv", "sirt", "cgls")
DEFAULT_ITERS = {"tv": 300, "sirt": 100, "cgls": 30}
DEFAULT_TV_LAM = 0.1


def slice_solver(method: str, lam: float | None = None, iters: int | None = None
                 ) -> Callable[[LinearOperator, jax.Array], jax.Array]:
    """``solve(A, y) -> x`` for one sinogram ``y`` of shape ``A.out_shape``."""
    if method not in CT_ITERATIVE:
        raise ValueError(f"method must be one of {', '.join(CT_ITERATIVE)}, got {method!r}")
    n = DEFAULT_ITERS[method] if iters is None else int(iters)
    if n < 1:
        raise ValueError(f"--iters must be >= 1, got {n}")
    if method == "tv":
        weight = DEFAULT_TV_LAM if lam is None else float(lam)
        if not weight > 0:
            raise ValueError(f"--lam must be > 0 for tv, got {weight}")
        from recon.solvers.pdhg import tv_recon

        return lambda A, y: tv_recon(A, y, lam=weight * jnp.mean(jnp.abs(y)), iterations=n,
                                     nonneg=True)
    if method == "sirt":
        from recon.solvers.sirt import sirt

        return lambda A, y: sirt(A, y, maxiter=n, nonneg=True).x
    from recon.solvers.cgls import cgls

    return lambda A, y: cgls(A, y, maxiter=n).x
