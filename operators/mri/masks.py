"""Cartesian sampling masks: fastMRI-style 1D line masks and 2D Poisson-disc masks.

The 1D masks follow the semantics of fastMRI's ``RandomMaskFunc`` and ``EquispacedMaskFunc``
(``fastmri/data/subsample.py``; Zbontar et al., "fastMRI: An Open Dataset and Benchmarks for
Accelerated MRI", arXiv:1811.08839), re-implemented here with explicit randomness and our axis
convention: the mask is a vector ``(W,)`` over the phase-encode (last) axis, which broadcasts
against k-space ``(C, H, W)``.

Common part. One ``(center_fraction, acceleration)`` pair is drawn uniformly from the given lists
(paired by position, or any combination with ``allow_any_combination=True``). The fully sampled
centre has ``n_low = round(W * center_fraction)`` lines starting at ``(W - n_low + 1) // 2``.

* :func:`random_mask`: every other line is kept independently with probability
  ``p = (W / R - n_low) / (W - n_low)``, so the *expected* number of lines is ``W / R``.
* :func:`equispaced_mask` (``fraction_matching=True``, fastMRI's original ``EquispacedMaskFunc``,
  today ``EquispacedMaskFractionFunc``, used for the public multi-coil data): the spacing is the
  adjusted acceleration ``R' = R (n_low - W) / (n_low R - W)``, chosen so that ``W / R`` lines
  are kept counting the centre; the lines are ``round(offset + j R')`` for
  ``offset + j R' < W - 1``, with the offset drawn uniformly from ``{0, ..., round(R') - 1}``.
  Rounding makes the spacing only approximately equal (fastMRI issue 54).
* :func:`equispaced_mask` with ``fraction_matching=False`` (today's ``EquispacedMaskFunc``):
  lines ``offset, offset + R, ...`` with ``offset`` in ``{0, ..., R - 1}``, plus the centre, so
  the true acceleration is below ``R``.

Randomness is explicit: ``seed`` is an int, a ``numpy.random.Generator`` or a ``jax.random`` key;
the same seed gives the same mask. Masks are NumPy arrays (float32 ``{0, 1}``): they are
constants of an experiment, and :func:`operators.mri.sense` needs concrete masks to prune.

:func:`poisson_mask` wraps ``sigpy.mri.poisson`` (variable-density Poisson disc, Bridson 2007),
reused rather than rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _rng(seed: Any) -> np.random.Generator:
    """A NumPy Generator from an int, a Generator or a ``jax.random`` key (typed or raw)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)):
        return np.random.default_rng(int(seed))
    try:
        import jax

        arr = seed
        if hasattr(seed, "dtype") and jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key):
            arr = jax.random.key_data(seed)
        data = np.asarray(arr).astype(np.uint32).ravel()
    except Exception as err:  # pragma: no cover - defensive
        raise ValueError(
            f"seed must be an int, a numpy Generator or a jax.random key, got {type(seed)}"
        ) from err
    if data.size == 0:
        raise ValueError("seed must be an int, a numpy Generator or a jax.random key")
    return np.random.default_rng([int(v) for v in data])


def _as_list(value: Any, name: str) -> list:
    if np.ndim(value) == 0:
        return [value]
    out = list(value)
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def _choose(
    rng: np.random.Generator,
    center_fractions: float | Sequence[float],
    accelerations: float | Sequence[float],
    allow_any_combination: bool,
) -> tuple[float, float]:
    cfs = _as_list(center_fractions, "center_fractions")
    accs = _as_list(accelerations, "accelerations")
    if not allow_any_combination and len(cfs) != len(accs):
        raise ValueError(
            f"center_fractions ({len(cfs)} values) and accelerations ({len(accs)} values) must "
            "have the same length unless allow_any_combination=True"
        )
    for cf in cfs:
        if not 0.0 <= float(cf) <= 1.0:
            raise ValueError(f"center fractions must be in [0, 1], got {cf}")
    for acc in accs:
        if float(acc) < 1.0:
            raise ValueError(f"accelerations must be >= 1, got {acc}")
    if allow_any_combination:
        return float(cfs[rng.integers(len(cfs))]), float(accs[rng.integers(len(accs))])
    i = int(rng.integers(len(cfs)))
    return float(cfs[i]), float(accs[i])


def center_lines(num_cols: int, center_fraction: float) -> np.ndarray:
    """Indices of the fully sampled centre: ``round(W·f)`` lines from ``(W - n_low + 1) // 2``."""
    n_low = round(num_cols * center_fraction)
    start = (num_cols - n_low + 1) // 2
    return np.arange(start, start + n_low)


def _check_cols(num_cols: int) -> int:
    if int(num_cols) != num_cols or num_cols < 1:
        raise ValueError(f"num_cols must be a positive integer, got {num_cols}")
    return int(num_cols)


def random_mask(
    seed: Any,
    num_cols: int,
    center_fractions: float | Sequence[float] = 0.08,
    accelerations: float | Sequence[float] = 4,
    *,
    allow_any_combination: bool = False,
) -> np.ndarray:
    """fastMRI ``RandomMaskFunc``: centre plus lines kept with probability ``p`` (module doc).

    Returns a float32 ``(num_cols,)`` mask with values in {0, 1}.
    """
    num_cols = _check_cols(num_cols)
    rng = _rng(seed)
    cf, acc = _choose(rng, center_fractions, accelerations, allow_any_combination)
    centre = center_lines(num_cols, cf)
    n_low = centre.size
    if n_low < num_cols:
        prob = (num_cols / acc - n_low) / (num_cols - n_low)
        mask = rng.uniform(size=num_cols) < prob
    else:
        mask = np.zeros(num_cols, bool)
    mask[centre] = True
    return mask.astype(np.float32)


def equispaced_mask(
    seed: Any,
    num_cols: int,
    center_fractions: float | Sequence[float] = 0.08,
    accelerations: float | Sequence[float] = 4,
    *,
    offset: int | None = None,
    fraction_matching: bool = True,
    allow_any_combination: bool = False,
) -> np.ndarray:
    """fastMRI equispaced line mask with a fully sampled centre (module doc).

    ``fraction_matching=True`` (default) adjusts the spacing so that about ``W / R`` lines are
    kept in total (fastMRI's original ``EquispacedMaskFunc`` / ``EquispacedMaskFractionFunc``);
    ``False`` keeps every ``R``-th line plus the centre (today's ``EquispacedMaskFunc``).
    ``offset`` fixes the first line instead of drawing it. Returns float32 ``(num_cols,)``.
    """
    num_cols = _check_cols(num_cols)
    rng = _rng(seed)
    cf, acc = _choose(rng, center_fractions, accelerations, allow_any_combination)
    centre = center_lines(num_cols, cf)
    n_low = centre.size
    mask = np.zeros(num_cols, np.float32)
    mask[centre] = 1.0
    if fraction_matching:
        denom = n_low * acc - num_cols
        if denom >= 0:
            raise ValueError(
                f"acceleration {acc} with centre fraction {cf} keeps the whole centre of "
                f"{n_low} lines, already at least {num_cols}/{acc} lines: nothing to space out"
            )
        spacing = acc * (n_low - num_cols) / denom
        if offset is None:
            offset = int(rng.integers(0, max(round(spacing), 1)))
        picks = np.around(np.arange(offset, num_cols - 1, spacing)).astype(np.int64)
    else:
        step = round(acc)
        if offset is None:
            offset = int(rng.integers(0, step))
        picks = np.arange(offset, num_cols, step)
    mask[picks] = 1.0
    return mask


def poisson_mask(
    shape: Sequence[int],
    acceleration: float,
    *,
    calib: Sequence[int] = (0, 0),
    seed: int = 0,
    crop_corner: bool = True,
    tol: float = 0.1,
) -> np.ndarray:
    """2D variable-density Poisson-disc mask ``(H, W)`` from ``sigpy.mri.poisson`` (float32).

    ``calib`` is the fully sampled calibration region; density ∝ ``1 / (1 + s|r|)`` with the
    slope ``s`` searched so the acceleration is within ``tol`` of ``acceleration``. The same
    ``seed`` gives the same mask (sigpy restores NumPy's global random state afterwards).
    """
    import sigpy.mri

    shape = tuple(int(s) for s in shape)
    if len(shape) != 2:
        raise ValueError(f"poisson_mask: shape must be (H, W), got {shape}")
    if acceleration <= 1:
        raise ValueError(f"poisson_mask: acceleration must be > 1, got {acceleration}")
    mask = sigpy.mri.poisson(
        shape,
        acceleration,
        calib=tuple(int(c) for c in calib),
        dtype=np.float32,
        crop_corner=crop_corner,
        seed=int(seed),
        tol=tol,
    )
    return np.asarray(np.abs(mask) > 0, dtype=np.float32)


def lines_to_2d(mask: np.ndarray, num_rows: int) -> np.ndarray:
    """Broadcast a 1D line mask ``(W,)`` to ``(num_rows, W)`` (e.g. for display or 2D tools)."""
    mask = np.asarray(mask)
    if mask.ndim != 1:
        raise ValueError(f"lines_to_2d: expected a 1D mask (W,), got shape {mask.shape}")
    return np.broadcast_to(mask, (int(num_rows), mask.shape[0])).copy()
