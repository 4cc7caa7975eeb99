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
from recon.measurement_split import AUTO_REFINE, Scheme

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


#: ``--lam auto`` (tv): coarse candidates (multiples of :data:`DEFAULT_TV_LAM`), then the best
#: one's neighbours at half and twice its weight (:mod:`recon.measurement_split`)
AUTO_GRID = (1 / 16, 1 / 4, 1.0, 4.0, 16.0)
#: how ``--lam auto`` holds out sinogram bins: whole views (6 of 30), one fold. Chosen on four
#: validation images of the dival protocol (``experiments/eval_lam_auto_ct.py --offset 1``,
#: never the test images) at 0.5 / 2.5 / 10 % noise: mean (oracle - auto) 0.03 / 0.07 / 0.08 dB
#: holding out whole views against 0.01 / 0.10 / 0.22 dB for 20 % of the bins at random.
#: Held-out views must be predicted as the unmeasured views are (the sparse-view streaks TV
#: removes); a random bin is predicted from its neighbours in the same view, which tests
#: denoising more than unfolding and chose weights 2x too small at high noise. On the 10 test
#: images (experiments/lam_auto_ct*.json) both are within 0.3 dB on average, views 0.03 / 0.07 /
#: 0.14 dB and bins 0.04 / 0.05 / 0.08 dB: four validation images do not separate them firmly;
#: most of the remaining gap is the factor-2 spacing of the candidates.
SCHEME = Scheme(lines=True, folds=1, fraction=0.2)


def tv_grid_solver(iters: int) -> Callable:
    """``(A, y (S, *out), lams (S, G), train out_shape) -> (S, G, *in)``, jitted: each slice's
    TV reconstruction from its ``train`` bins for every weight in ``lams``. The data term is
    ``1/2 ||P_t (A x - y)||²``; the weight is relative to ``mean |P_t y|`` over *all* bins
    (held-out ones read as zeros), i.e. to ``(1 - ρ) mean |y|``: the data term has ``1 - ρ``
    of the bins, so the same relative weight balances the two terms as on the full data."""
    from operators.linop import Multiply
    from recon.solvers.pdhg import tv_recon

    def one(A, y, lams, train):
        Pt = Multiply(jnp.asarray(train, jnp.float32), tuple(A.out_shape), dtype=A.out_dtype)
        y_t = train * y
        scale = jnp.mean(jnp.abs(y_t))
        return jax.vmap(lambda lam: tv_recon(Pt @ A, y_t, lam=lam * scale, iterations=iters,
                                             nonneg=True))(lams)
    return jax.jit(jax.vmap(one, in_axes=(None, 0, 0, None)))


def _residuals(A, y, xs, held):
    from recon.measurement_split import heldout_residual

    return jax.vmap(lambda yy, xx: jax.vmap(lambda x: heldout_residual(A, held, x, yy))(xx))(
        y, xs)


def split_views(shape: tuple[int, ...], fraction: float | None = None, seed: int = 0,
                fold: int = 0) -> tuple:
    """``(train, held)`` sinogram masks of :data:`SCHEME` (``fraction`` overrides its
    held-out fraction), for ``--lam auto`` and validated dds; ``ValueError`` for a fraction or
    a sinogram that cannot be split."""
    from recon.measurement_split import split_array

    frac = SCHEME.fraction if fraction is None else fraction
    return split_array(tuple(shape), frac, seed, lines=SCHEME.lines, fold=fold)


def validated_tv(A: LinearOperator, sinos, noise_std, iters: int | None = None,
                 fraction: float | None = None, seed: int = 0) -> dict:
    """``recon ct --method tv --lam auto``: per slice of ``sinos`` ``(S, *A.out_shape)``, the TV
    weight chosen by measurement-split validation and the record (NumPy arrays, per slice):
    ``lam`` ``(S,)`` (relative, as ``--lam``), ``candidates`` and ``heldout_residual``
    ``(S, 7)``, ``noise_floor`` ``(S,)``, ``decided`` ``(S,)``.

    The sinogram bins are split (:func:`recon.measurement_split.split_array`, the scheme
    :data:`SCHEME`); every candidate (:data:`AUTO_GRID` times :data:`DEFAULT_TV_LAM`, then the
    best one's :data:`AUTO_REFINE` neighbours) is reconstructed from the training bins
    (:func:`tv_grid_solver`) and scored by its normalised held-out residual; the noise floor
    uses ``noise_std`` ``(S,)`` per bin (one real component) and an undecided slice keeps the
    default weight (:func:`recon.measurement_split.decide`).
    """
    import numpy as np

    from recon import interrupts
    from recon.measurement_split import choose_weights, noise_floor

    n = DEFAULT_ITERS["tv"] if iters is None else int(iters)
    sinos = jnp.asarray(sinos, jnp.float32)
    ns = sinos.shape[0]
    splits = [split_views(tuple(A.out_shape), fraction, seed, fold=f)
              for f in range(SCHEME.folds)]
    solve = tv_grid_solver(n)
    residuals = jax.jit(_residuals)

    def candidates(lams):
        total = 0.0
        for train, held in splits:
            xs = solve(A, sinos, jnp.asarray(lams, jnp.float32), jnp.asarray(train))
            interrupts.check()
            total = total + np.asarray(residuals(A, sinos, xs, jnp.asarray(held)), np.float64)
        return total / len(splits)

    y = np.asarray(sinos, np.float64)
    n_held = int(sum(held.sum() for _, held in splits))
    energy = sum(np.sum((y * held) ** 2, axis=tuple(range(1, y.ndim))) for _, held in splits)
    floors = [noise_floor(float(noise_std[i]), n_held, 1, float(energy[i]), components=1)
              for i in range(ns)]
    return choose_weights(candidates, DEFAULT_TV_LAM, AUTO_GRID, AUTO_REFINE, floors, n_held)


def tv_weighted_solver(iters: int | None = None) -> Callable:
    """``solve(A, y, lam) -> x``: :func:`slice_solver`'s TV with a per-slice (traced) relative
    weight, as ``--lam auto`` reruns each slice on all its data."""
    from recon.solvers.pdhg import tv_recon

    n = DEFAULT_ITERS["tv"] if iters is None else int(iters)
    if n < 1:
        raise ValueError(f"--iters must be >= 1, got {n}")
    return lambda A, y, lam: tv_recon(A, y, lam=lam * jnp.mean(jnp.abs(y)), iterations=n,
                                      nonneg=True)
