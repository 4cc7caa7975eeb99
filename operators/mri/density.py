"""Sampling-density compensation by the Pipe-Menon fixed-point iteration.

Pipe & Menon, "Sampling density compensation in MRI: rationale and an iterative numerical
solution", MRM 41(1), 1999: find weights ``w`` with ``sum_j w_j C(k_i - k_j) = 1`` at every sample
``k_i`` for a compact, smooth kernel ``C``, by iterating ``w <- w / (C * w)`` from ``w = 1``, where
``C * w`` is gridding (spreading) the weights and interpolating back at the samples (sigpy's
``pipe_menon_dcf`` does the same). Here spreading and interpolation use the separable
Kaiser-Bessel kernel ``phi`` of :mod:`operators.mri.nufft_jax` on a 2x oversampled, non-periodic
grid (so ``C`` is the autocorrelation of ``phi``), and the result is normalised by ``C``'s
integral so that ``w`` is in units of k-space area per sample
(cycles/FOV)^d: a fully sampled Cartesian grid gets ``w = 1`` and ``A.H(w * A(x))`` approximates
``x`` for the sigpy-convention NUFFT ``A``. Pure JAX (jit-compiled iteration).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from operators.mri.nufft_jax import grid_plan, interp, kb_beta, kb_transform, spread

_SIGMA = 2
_WIDTH = 6  # kernel width in grid cells (3 k-space units at sigma = 2)


def pipe_menon_dcf(
    coords: np.ndarray, image_shape: Sequence[int], iterations: int = 30
) -> np.ndarray:
    """Density-compensation weights, shape ``coords.shape[:-1]``, float32 (see module docstring).

    ``coords`` in sigpy's units (cycles per FOV, in ``[-N/2, N/2)``) as for
    :func:`operators.mri.nufft`; ``iterations`` fixed-point steps.
    """
    from operators.mri.nufft import check_coords

    coords = check_coords(coords, image_shape)
    image_shape = tuple(int(n) for n in image_shape)
    nd = len(image_shape)
    beta = kb_beta(_WIDTH)
    grid_shape = tuple(_SIGMA * n for n in image_shape)
    plan = grid_plan(coords, grid_shape, [_SIGMA] * nd, _WIDTH, beta, np.float64)
    # normalise phi to unit integral (grid units) so the iterates stay O(1) in float32
    area = float(kb_transform(0.0, _WIDTH, beta))
    starts, weights = jnp.asarray(plan["starts"]), jnp.asarray(plan["weights"] / area)
    padded = plan["padded"]

    @jax.jit
    def run(starts, weights):
        def step(_, w):
            density = interp(spread(w, starts, weights, padded), starts, weights)
            return w / jnp.abs(density)

        w0 = jnp.ones((1, starts.shape[0]), weights.dtype)
        return jax.lax.fori_loop(0, iterations, step, w0)[0]

    w_sorted = np.asarray(run(starts, weights))
    w = np.empty_like(w_sorted)
    w[plan["perm"]] = w_sorted
    # spreading then interpolating convolves with phi * phi (unit integral in grid units, i.e.
    # 1/sigma per axis in k units): the fixed point has w * density = sigma^d
    return (w / _SIGMA**nd).reshape(coords.shape[:-1]).astype(np.float32)
