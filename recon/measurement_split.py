"""Measurement-split validation: score reconstructions by how well they predict held-out data.

A reconstruction method with a free setting (a regularisation weight, a prior's strength) is
judged here on the measurements themselves, as self-supervised MRI methods split k-space
(SSDU: Yaman et al., Magn. Reson. Med. 84:3172, 2020) and as cross-validation chooses ridge
weights (Golub, Heath & Wahba, Technometrics 21:215, 1979, for the leave-out idea behind GCV):

1. Split the acquired samples ``Ω`` into a training set ``Ω_t`` and a held-out set ``Ω_v``
   (a random fraction ``ρ`` of the acquired k-space points outside the fully sampled
   calibration region).
2. Reconstruct ``x̂_c`` from ``Ω_t`` alone with every candidate setting ``c``.
3. Score each candidate by its normalised held-out residual

       r_c = ||P_v (A x̂_c - y)||² / ||P_v y||²,

   with ``P_v`` the projection onto ``Ω_v`` and ``A`` the full forward model (coil maps and
   Fourier transform). With ``y = A x + n`` and ``n`` white of variance ``σ²`` per real
   component, independent of the training data, ``E ||P_v (A x̂_c - y)||² = ||P_v A (x̂_c -
   x)||² + 2σ² |Ω_v| C`` (``C`` coils): the residual estimates the error of ``x̂_c`` *seen
   through the held-out part of the forward model* plus a noise floor no method can go below,
   ``f = 2σ² |Ω_v| C / ||P_v y||²``. The candidate with the smallest residual is the one whose
   error is smallest on the held-out frequencies; then the chosen setting is rerun on all
   the data.

Limits, and why:

- The calibration region is never held out: ESPIRiT's coil maps are estimated from it, so its
  samples are not independent of the model the candidates share, and its energy (most of
  ``||y||²``) would make the score measure low-frequency fidelity, which every candidate
  matches, rather than the aliasing and noise amplification the setting controls.
- The residual sees only the error in the span of the held-out rows of ``A``: an error in
  what the scanner never measured (unsampled lines, outside the coils' support) is invisible to
  it. Validation can choose between methods that differ where the data can judge them; it
  cannot certify what no datum constrains.
- Fewer samples train each candidate than the final run uses (``1 - ρ`` of them): the optimum
  for the split is, to first order, that of the full data when the setting's effect does not
  depend on the number of samples (weights relative to ``max |A^H y|`` and to ``||A^H A||``).
- Differences below the floor's own spread (its relative standard deviation is about
  ``1/sqrt(|Ω_v| C)`` for a chi-square with ``2|Ω_v|C`` degrees of freedom) are not evidence:
  :func:`decide` says "undecided" when every candidate's excess over the floor is within it.

The same score serves any linear model: a sinogram split (:func:`split_array`, random bins or
whole views, no calibration region) with the CT projector scores ``recon ct --method tv --lam
auto`` (:mod:`recon.ct.classical`); there the noise is real, one component per bin, and the
floor is ``σ² |Ω_v| / ||P_v y||²``.

Written here (NumPy for the split, JAX for the residuals) because no library offers a
k-space split for these masks; the residuals are jitted and vmapped over slices and candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

#: default held-out fraction of the acquired samples outside the calibration region
HOLDOUT = 0.2
#: fewest held-out samples per coil for a score (below: refuse to split)
MIN_HELDOUT = 64
#: ``--lam auto`` (MRI and CT): after the coarse grid, the best weight's neighbours at half and
#: twice it are scored too (finer steps measured worse, BENCHMARKS.md)
AUTO_REFINE = (0.5, 2.0)


@dataclass(frozen=True)
class Scheme:
    """How to hold out and how to turn the scores into a weight.

    ``lines``: hold out whole phase-encode lines of a 1-D mask (else random points; 2-D masks
    always use points); ``folds`` disjoint held-out sets whose residuals are averaged, each a
    ``fraction`` of the acquired samples outside the calibration region; ``shrink``: the factor
    applied to the validated weight before the final solve on all the data (below).

    Why a shrink factor: the candidates are fitted on ``1 - ρ`` of the samples outside the
    calibration region, a higher acceleration than the final solve sees, and the weight that
    best predicts the held-out samples of that sparser problem is larger than the one best for
    the full data (more aliasing and noise to suppress). The held-out optimum is therefore
    biased upwards, by a factor that depends on the method and the split but little on the
    slice; ``shrink`` corrects it by a constant measured on the tuning slices.
    """

    lines: bool
    folds: int
    fraction: float
    shrink: float = 1.0


#: per method, chosen on tuning slices at 4x and 8x (``python -m experiments.eval_lam_auto
#: --set tuning``: dipy's T1 slice and S0 slices 3-4, Colin27 planes z 62 and 108; its report
#: uses other slices). Held-out *points* are predicted from the rest of their line, which tests
#: denoising but not unfolding: they chose TV weights 2-4x too small (0.50 dB below the
#: oracle); held-out *lines* raise the acceleration of the training split, which for Tikhonov
#: (CG-SENSE) moved the optimum to 4-30x the oracle's weight (0.92 dB below) but tested TV as
#: the full data do (0.03 dB below, 4 folds of 10 %). For CG-SENSE and L1-wavelet one fold of
#: 20 % points chose weights 1-4x the oracle's on every tuning slice: a consistent bias that
#: ``shrink`` halves (CG-SENSE: mean gap to the oracle 0.30 -> 0.17 dB on the 10 tuning
#: slices) or divides by sqrt 2 (L1-wavelet: 0.12 -> 0.08 dB, against 0.18 dB for the 4 folds
#: of 10 % lines it used before, whose 1-2 held-out lines per fold at 8x made the score noisy),
#: at a quarter of the lines' cost (one fold, not four).
SCHEMES: dict[str, Scheme] = {
    "cg-sense": Scheme(lines=False, folds=1, fraction=HOLDOUT, shrink=0.5),
    "l1-wavelet": Scheme(lines=False, folds=1, fraction=HOLDOUT, shrink=2 ** -0.5),
    "tv": Scheme(lines=True, folds=4, fraction=0.1),
    # validated dds (recon.validated_diffusion): held-out lines test what the prior does (fill
    # unmeasured lines); one fold, as each costs a validation DDS run (the 1.5x cost bound)
    "dds": Scheme(lines=True, folds=1, fraction=0.2),
}


def calibration_block(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean ``(H, W)``: the fully sampled centre (never held out).

    A 1-D phase-encode mask ``(W,)``: its contiguous sampled lines around the centre, every
    readout row. A 2-D mask: its largest fully sampled centred block
    (:func:`recon.sampling._centre_block`).
    """
    from recon.coils.espirit import acs_width
    from recon.sampling import _centre_block

    h, w = shape
    m = np.asarray(mask) != 0
    block = np.zeros((h, w), bool)
    if m.size == w:
        line = m.reshape(w)
        first = w // 2  # acs_width counts the sampled run through w // 2: find its first line
        while first - 1 >= 0 and line[first - 1]:
            first -= 1
        block[:, first:first + acs_width(line)] = True
        return block
    ch, cw = _centre_block(np.broadcast_to(m.reshape(h, w), (h, w)))
    r0, c0 = h // 2 - ch // 2, w // 2 - cw // 2
    block[r0:r0 + ch, c0:c0 + cw] = True
    return block


def check_fraction(fraction: float) -> None:
    """Refuse a held-out fraction outside ``(0, 0.5]`` (``ValueError``)."""
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 0.5):
        raise ValueError(f"the held-out fraction must be in (0, 0.5], got {fraction!r}")


def split_array(shape: tuple[int, ...], fraction: float = HOLDOUT, seed: int = 0,
                lines: bool = False, fold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held)`` float32 masks of ``shape`` for data measured at every entry (a
    sinogram ``(views, det)``): ``held`` is a random ``fraction`` of the entries, or with
    ``lines`` a random ``fraction`` of the first axis's indices (whole views), disjoint across
    ``fold`` while they last; ``train`` is the rest. The modality-independent counterpart of
    :func:`split` (no calibration region).

    Raises ``ValueError`` for a fraction outside ``(0, 0.5]``, fewer than
    :data:`MIN_HELDOUT` entries to hold out, or (``lines``) fewer than 2 lines.
    """
    check_fraction(fraction)
    shape = tuple(int(n) for n in shape)
    size = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    held = np.zeros(shape, bool)
    if lines:
        n_lines, per_line = shape[0], size // max(shape[0], 1)
        n_held = max(1, round(fraction * n_lines))
        if n_lines < 2 or n_held * per_line < MIN_HELDOUT:
            raise ValueError(f"too few views to validate: {n_lines} of {per_line} bins "
                             f"(holding out {fraction:g} of them gives {n_held * per_line} bins, "
                             f"fewer than {MIN_HELDOUT})")
        order = rng.permutation(n_lines)
        start = (fold * n_held) % n_lines
        held[np.roll(order, -start)[:n_held]] = True
    else:
        n_held = round(fraction * size)
        if n_held < MIN_HELDOUT:
            raise ValueError(f"too few measurements to validate: {size} (holding out "
                             f"{fraction:g} of them gives {n_held}, fewer than {MIN_HELDOUT})")
        order = rng.permutation(size)
        start = (fold * n_held) % size
        held.reshape(-1)[np.roll(order, -start)[:n_held]] = True
    return (~held).astype(np.float32), held.astype(np.float32)


def split(mask: np.ndarray, shape: tuple[int, int], fraction: float = HOLDOUT,
          seed: int = 0, lines: bool = False, fold: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held)`` float32 ``(H, W)`` masks: ``held`` is a random ``fraction`` of the
    acquired points outside :func:`calibration_block`, ``train`` the other acquired points.

    Raises ``ValueError`` for a fraction outside ``(0, 0.5]`` or fewer than
    :data:`MIN_HELDOUT` points to hold out.
    """
    check_fraction(fraction)
    h, w = shape
    m = np.asarray(mask) != 0
    acquired = np.broadcast_to(m.reshape(w) if m.size == w else m.reshape(h, w), (h, w))
    outside = acquired & ~calibration_block(mask, shape)
    if lines and m.size == w:  # whole lines: predicted as the unsampled ones must be
        cols = np.flatnonzero(outside.any(axis=0))
        n_cols = max(1, round(fraction * cols.size))
        if cols.size < 2 or n_cols * h < MIN_HELDOUT:
            raise ValueError(f"too few acquired lines outside the calibration region to "
                             f"validate: {cols.size}")
        order = np.random.default_rng(seed).permutation(cols)
        start = (fold * n_cols) % cols.size  # folds: disjoint line sets while they last
        held = np.zeros((h, w), bool)
        held[:, np.roll(order, -start)[:n_cols]] = True
        held &= outside
        return (acquired & ~held).astype(np.float32), held.astype(np.float32)
    candidates = np.flatnonzero(outside)
    n_held = round(fraction * candidates.size)
    if n_held < MIN_HELDOUT:
        raise ValueError(
            f"too few acquired samples outside the calibration region to validate: "
            f"{candidates.size} (holding out {fraction:g} of them gives {n_held}, fewer than "
            f"{MIN_HELDOUT})")
    rng = np.random.default_rng(seed)
    held = np.zeros(h * w, bool)
    held[rng.choice(candidates, n_held, replace=False)] = True
    held = held.reshape(h, w)
    train = acquired & ~held
    return train.astype(np.float32), held.astype(np.float32)


def heldout_residual(A: object, held: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """``||P_v (A x - y)||² / ||P_v y||²`` for the forward model ``A`` (full mask or none) and
    the held-out mask ``held`` (broadcast against the data's trailing axes)."""
    held = jnp.asarray(held, jnp.real(y).dtype)
    ry = held * y
    r = held * A(x) - ry
    return jnp.sum(jnp.abs(r) ** 2) / jnp.maximum(jnp.sum(jnp.abs(ry) ** 2),
                                                 jnp.finfo(jnp.float32).tiny)


@dataclass(frozen=True)
class Decision:
    """The outcome for one slice: the index of the chosen candidate (``None``: undecided),
    each candidate's residual, the noise floor, and the floor's spread."""

    best: int | None
    residuals: tuple[float, ...]
    floor: float
    spread: float


def noise_floor(noise_std: float, n_held: int, coils: int, held_energy: float,
                components: int = 2) -> float:
    """``f = K σ² |Ω_v| C / ||P_v y||²``: the held-out residual of a perfect reconstruction,
    ``K`` real components per sample (2 for complex k-space, 1 for a real sinogram)."""
    return float(components * noise_std**2 * n_held * coils
                 / max(held_energy, np.finfo(np.float32).tiny))


def decide(residuals, floor: float, n_real: int, must_beat_zero: bool = False) -> Decision:
    """Pick the smallest residual, or ``None`` when every candidate's excess over the noise
    floor is within the floor's spread ``3 f / sqrt(n_real / 2)`` (chi-square with ``n_real``
    degrees of freedom: relative std ``sqrt(2 / n_real)``; three of them).

    ``must_beat_zero``: also ``None`` when no candidate predicts the held-out samples better
    than zero does (every normalised residual >= 1). Used for the weights of one method
    (:func:`choose_weights`): then the held-out samples are unpredictable from the rest at any
    weight, and what the score ranks is misfit the weight does not control. Measured on a
    tuning slice (Colin27 z62 at 4x, TV, 3 held-out lines per fold): residuals 1.006-1.19,
    not monotone in the weight, and their minimum, at 128x the default, lost 5.6 dB. Validated
    dds does not use it: its candidates are blends of two images, and residuals above 1 still
    ranked them as the truth did on the four such slices measured (dipy S0 3 and Colin27
    z115 at 8x in ``experiments/validated_dds_synthseg_prior.json``, the cameraman at 4x and
    8x in ``experiments/validated_dds_stress.json``)."""
    r = np.asarray(residuals, np.float64)
    spread = float(3 * floor * np.sqrt(2.0 / max(n_real, 1)))
    excess = r - floor
    best = int(np.argmin(r))
    if np.max(excess) <= spread or (must_beat_zero and r[best] >= 1.0):
        return Decision(None, tuple(map(float, r)), floor, spread)
    return Decision(best, tuple(map(float, r)), floor, spread)


def choose_weights(score, default: float, grid, refine, floors, n_real: int,
                   shrink: float = 1.0) -> dict:
    """``--lam auto`` for a batch of ``S`` slices: the weights ``default x grid``, then the best
    one's ``refine`` neighbours per slice, each scored by ``score(lams (S, G)) -> (S, G)``
    held-out residuals; per slice the smallest residual is chosen by :func:`decide` against its
    noise floor (``floors`` ``(S,)``, ``n_real`` real held-out values; undecided, too, when no
    weight predicts the held-out samples better than zero) and multiplied by
    ``shrink`` (:class:`Scheme`), and an undecided slice keeps ``default``. Returns the
    record: ``lam`` ``(S,)`` (the weight to use), ``validated`` ``(S,)`` (the candidate with
    the smallest residual, before ``shrink``), ``candidates`` and ``heldout_residual``
    ``(S, G + len(refine))``, ``noise_floor``, ``decided``."""
    floors = np.asarray(floors, np.float64)
    ns = floors.shape[0]
    coarse = np.tile(default * np.asarray(grid, np.float32), (ns, 1))
    r_coarse = score(coarse)
    best = coarse[np.arange(ns), np.argmin(r_coarse, axis=1)]
    fine = best[:, None] * np.asarray(refine, np.float32)[None]
    lams = np.concatenate([coarse, fine], axis=1)
    res = np.concatenate([r_coarse, score(fine)], axis=1)
    validated, decided = np.full(ns, float(default)), np.zeros(ns, bool)
    for i in range(ns):
        d = decide(res[i], float(floors[i]), n_real, must_beat_zero=True)
        if d.best is not None:
            validated[i], decided[i] = lams[i, d.best], True
    chosen = np.where(decided, validated * shrink, validated)
    return {"lam": chosen, "validated": validated, "candidates": lams,
            "heldout_residual": res, "noise_floor": floors, "decided": decided}
