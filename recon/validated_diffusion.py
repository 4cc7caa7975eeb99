"""Validated diffusion output: ``recon mri --method dds`` never silently worse than classical.

DDS starts from the L1-wavelet reconstruction (its warm start) and lets a learned prior remove
that image's artefacts. On data unlike the prior's training images (domain shift: another
scanner, contrast or subject population) the prior can also *add* structure the data do not
support, and the diffusion image ends up worse than the classical one it started from. With
``--validate on`` (the default for dds) every slice is therefore checked against its own
measurements by measurement-split validation (:mod:`recon.measurement_split`, the machinery of
``--lam auto``):

1. split the acquired samples ``Ω`` outside the calibration region into a fit part ``Ω_t`` and a
   held-out part ``Ω_v`` (:data:`recon.measurement_split.SCHEMES` ``["dds"]``: one fold of
   whole phase-encode lines, so the candidates must *predict unmeasured lines*, which is what
   the prior is for; 2-D masks hold out points);
2. from ``Ω_t`` alone reconstruct (a) the classical image ``x_c`` (L1-wavelet with the weight
   of ``--lam``, default the library default: DDS's own warm start), (a') the CG-SENSE image
   at its default weight (cheap, and the better classical image on some data far from
   brains, e.g. a photograph: ``experiments/validated_dds_stress.json``), (b) the DDS posterior
   mean ``x_d`` warm-started from it, on a reduced budget (:data:`VALIDATION_NFE` network
   evaluations for each of one antithetic pair of samples, instead of the final run's
   ``--samples`` x ``--nfe``), and the blends ``w x_d + (1 - w) x_c`` for ``w`` in
   :data:`WEIGHTS` (``w = 0``: classical, ``w = 1``: diffusion). With ``--validate settings``
   (b) runs for every DDS setting of :data:`SETTINGS_GRID` (warm-start level 0.5x, 1x, 2x
   the configured one; weight ``λ`` of the denoised estimate in the consistency step 1x, 3x),
   and the setting of smallest held-out residual is the one used below;
3. score every candidate by its normalised held-out residual
   ``r_w = ||P_v (A x_w - y)||² / ||P_v y||²`` (:func:`recon.measurement_split.heldout_residual`)
   and choose with :func:`recon.measurement_split.decide`: the smallest residual, unless every
   candidate's excess over the noise floor is within the floor's spread ("undecided"): then the
   **classical image** (L1-wavelet, DDS's warm start) is returned, never the diffusion one by
   default;
4. reconstruct the chosen candidate from all the data: the classical images and the
   full-budget DDS posterior (the same computation as ``--validate off``, so ``dds`` reproduces
   it bit for bit), blended with the chosen ``w``.

What the held-out residual estimates. With ``y = A x + n`` (white noise of variance ``σ²`` per
real component, independent between the two parts),
``E ||P_v (A x_w - y)||² = ||P_v A (x_w - x)||² + 2σ² |Ω_v| C``: the error of each candidate
*seen through the held-out rows of the forward model* (coil sensitivities times the held-out
Fourier samples), plus a noise floor ``f = 2σ² |Ω_v| C / ||P_v y||²`` that no reconstruction
goes below (:func:`recon.measurement_split.noise_floor`; ``σ`` from ``--noise-std`` or
:func:`recon.slice_methods.estimate_noise_std`). The candidates differ mainly in how they fill
the unsampled lines, and the held-out lines are unsampled lines whose truth is known: the score
is an unbiased estimate of each candidate's error on lines like them.

Limits:

- *Hallucinations in frequencies nobody measured are invisible.* The residual sees only
  ``P_v A (x_w - x)``; an error component in the null space of the full forward model (the
  lines the scanner skipped that are not like the held-out ones, the high frequencies beyond
  the sampled band, anything outside the coils' support) adds nothing to any residual, so a
  prior that invents plausible fine detail there is not penalised. Validation can prefer the
  classical image when the diffusion image is demonstrably worse on predictable data; it cannot
  certify the diffusion image's invented detail.
- The candidates are judged on ``1 - ρ`` of the lines (a higher acceleration than the final
  run's), and the validation DDS runs on a smaller budget than the final one; the choice
  transfers when the ranking does not depend on those (measured in
  ``experiments/eval_diffusion.py validated``). Both handicap the diffusion candidate, so the
  choice leans classical: on the real test slices it took the blend 0.75 where the full-data
  oracle was dds on 2 of 10 (0.08 dB lost on average), never a worse-than-classical image.
- Differences within the floor's spread (relative std ``sqrt(2 / (2 |Ω_v| C))``, three of
  them) are not evidence: :func:`choose` then returns the classical (L1-wavelet) candidate.
- Only the candidates are compared: on an image where every one of them is poor (a
  photograph far from brains, 8x: ``experiments/validated_dds_stress.json``) the best of them
  is still poor.
- *Settings.* The validation DDS ranks settings on its reduced budget; the ranking need not
  hold at the full budget (a lower warm-start level is better after a few network
  evaluations and can be worse after 50). Measured on the real test slices
  (``experiments/validated_dds_settings.json``, BENCHMARKS.md): the settings of the grid
  differ by at most a few tenths of a dB there, and choosing among them changes little, so
  ``--validate on`` keeps the configured setting (:data:`SETTINGS`) and the grid is opt-in.
- One fold: the held-out lines are few at high acceleration (8x with a 4 % centre: about 3 of
  192 lines), so the score is noisy there; more folds cost one validation DDS each.

The posterior *agreement* figure (:func:`agreement`) checks the samples against the noise level;
see its docstring. The per-slice record (:data:`RECORD_FIELDS`) goes to ``/validation`` of the
output file.

Cost: the validation adds one L1-wavelet solve, two CG-SENSE solves (fit part and all data)
and ``2 x VALIDATION_NFE`` network evaluations per validated setting and slice to today's one
L1-wavelet solve and ``samples x nfe`` (default 50) evaluations (measured:
``experiments/validated_dds.json``, ``experiments/validated_dds_settings.json``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from recon.measurement_split import SCHEMES, decide, heldout_residual, noise_floor, split

#: blend weights of the candidates: 0 = the classical (L1-wavelet) image, 1 = the DDS mean
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: the candidates in the order of the residuals: CG-SENSE, then the blends of :data:`WEIGHTS`
CANDIDATES = ("cg-sense", "l1-wavelet", "blend 0.25", "blend 0.5", "blend 0.75", "dds")
#: the candidate returned when validation is undecided: DDS's warm start
UNDECIDED = "l1-wavelet"
#: DDS settings: (warm-start level as a multiple of the configured one, factor on the weight λ
#: of the denoised estimate in the consistency step). ``--validate on`` runs the configured
#: setting only (:data:`SETTINGS`); ``--validate settings`` validates :data:`SETTINGS_GRID` per
#: slice and runs the one of smallest held-out residual. The first is the configured setting
#: (what ``--validate off`` runs).
SETTINGS = ((1.0, 1.0),)
SETTINGS_GRID = ((1.0, 1.0), (0.5, 1.0), (2.0, 1.0), (1.0, 3.0))
#: network evaluations per sample of each validation DDS (one antithetic pair per setting)
VALIDATION_NFE = 6
VALIDATION_SAMPLES = 2
#: flag a slice whose posterior samples spread more on the acquired samples than this many
#: times the noise energy there (:func:`agreement`)
AGREEMENT_LIMIT = 2.0

ABOUT = ("validated dds per slice (recon.validated_diffusion, recon.measurement_split): "
         "candidates = cg-sense and the blends w*dds + (1-w)*l1-wavelet (w 0, 0.25, 0.5, 0.75, "
         "1), their normalised held-out residuals, the noise floor and its spread, whether it "
         "decided (undecided: l1-wavelet), the dds weight w of the output (0 for cg-sense), "
         "the choice, and the posterior "
         "samples' spread on the acquired samples over the noise energy (agreement); the dds "
         "settings validated (warm-start level factor, consistency-weight factor), their "
         "held-out residuals, and the warm-start level and weight factor of the one used")

#: per-slice datasets of the record
RECORD_FIELDS = ("candidates", "heldout_residual", "noise_floor", "floor_spread", "decided",
                 "weight", "choice", "noise_std", "posterior_agreement",
                 "posterior_disagrees", "settings", "setting_residual", "warm_start",
                 "consistency_weight")


def dds_weight(name: str) -> float:
    """The weight of the DDS mean in candidate ``name`` (0 for the classical images)."""
    return 0.0 if name == "cg-sense" else float(WEIGHTS[CANDIDATES.index(name) - 1])


def choose(residuals, floor: float, n_real: int) -> tuple[str, bool]:
    """``(candidate, decided)``: the candidate (:data:`CANDIDATES`) of the smallest held-out
    residual (:func:`recon.measurement_split.decide`), or ``(UNDECIDED, False)`` (the
    L1-wavelet image, DDS's warm start) when every excess over the floor is within its
    spread."""
    d = decide(residuals, floor, n_real)
    return _choice(d), d.best is not None


def _choice(d) -> str:
    """The candidate a :class:`~recon.measurement_split.Decision` picks (undecided:
    :data:`UNDECIDED`)."""
    return UNDECIDED if d.best is None else CANDIDATES[d.best]


def agreement(spread_energy: float, noise_std: float, n_acquired: int, coils: int,
              components: int = 2) -> float:
    """Agreement of the posterior samples with the noise level:

        a = mean_k ||P_Ω A (x_k - x̄)||² / (2 σ² |Ω| C),

    (``components = 1`` for real data such as a CT sinogram: ``σ² |Ω|`` in the denominator),

    the samples' spread around their mean pushed through the forward model on the acquired
    samples ``Ω`` (the posterior std's energy where the data constrain it), over the energy of
    the measurement noise there (``σ`` per real component, ``C`` coils). Spread on acquired
    samples should be explained by the noise: for a linear-Gaussian posterior it is at most the
    noise energy (``a <= 1``, less where the prior is confident), whatever the spread in the
    unmeasured frequencies. ``a > AGREEMENT_LIMIT`` says the samples disagree with each other
    on what was measured more than the noise explains: the sampler or the prior is fighting the
    data, and the mean is not to be trusted. (``spread_energy`` is the numerator; with K
    antithetic samples it is computed from the samples themselves, not from the magnitude of
    the std map, whose phase is lost.)
    """
    return float(spread_energy / max(components * noise_std**2 * n_acquired * coils,
                                     np.finfo(np.float32).tiny))


def settings_schedules(cfg: Any, settings=SETTINGS) -> tuple[jax.Array, jax.Array]:
    """The noise levels ``(len(settings), cfg.nfe + 1)`` of each setting (the warm-start level
    a multiple of ``cfg.start_sigma``; without a warm start every setting keeps the cold-start
    levels) and their ``λ`` factors."""
    from recon.diffusion.posterior import noise_levels

    n = cfg.nfe // 2 if cfg.method == "score-mri" else cfg.nfe
    rows = [noise_levels(cfg if cfg.start_sigma is None else dataclasses.replace(
        cfg, start_sigma=min(cfg.start_sigma * f, cfg.sigma_max)), n) for f, _ in settings]
    return jnp.stack(rows), jnp.asarray([d for _, d in settings], jnp.float32)


def validated_slice(denoiser: Any, cfg: Any, val_cfg: Any, l1: dict, maps, y, key,
                    mask, train, held, cg: dict | None = None, settings=SETTINGS) -> dict:
    """One slice, pure JAX (vmap over slices): the validation DDS of every one of ``settings``
    (:data:`SETTINGS` or :data:`SETTINGS_GRID`) fitted on ``train`` and the index of the one of
    smallest held-out residual; the held-out residuals of the candidates (:data:`CANDIDATES`, the
    DDS ones at that setting); the full-data classical images (L1-wavelet with ``l1``, CG-SENSE with
    ``cg``, default :data:`recon.cli_options.DEFAULTS`) and the DDS mean, std and samples' spread
    energy on the acquired samples (numerator of :func:`agreement`) at that setting."""
    from operators.mri import sense
    from recon.cli_options import DEFAULTS
    from recon.diffusion.posterior import reconstruct, reconstruct_samples
    from recon.solvers.cg import cg_sense
    from recon.solvers.fista import fista_l1

    cg = DEFAULTS["cg-sense"] if cg is None else cg

    def cg_image(A, y):
        return cg_sense(A, y, lam=cg["lam"], maxiter=cg["iters"], tol=0.0).x

    prior_var = float(denoiser.config.sigma_data) ** 2
    A_t = sense(maps, train)
    y_t = y * train.astype(jnp.real(y).dtype)
    xc_t = fista_l1(A_t, y_t, lam=l1["lam"], iterations=l1["iters"]).x
    A_all = sense(maps)
    val_sigmas, dc = settings_schedules(val_cfg, settings)

    def validation_dds(setting):
        sigmas, weight = setting
        return reconstruct(denoiser, A_t, y_t, val_cfg, jax.random.fold_in(key, 1),
                           prior_var=prior_var,
                           x_start=xc_t if val_cfg.start_sigma is not None else None,
                           sigmas=sigmas, dc_weight=weight)[0]

    xd_ts = jax.lax.map(validation_dds, (val_sigmas, dc))
    setting_res = jax.vmap(lambda x: heldout_residual(A_all, held, x, y))(xd_ts)
    best = jnp.argmin(setting_res)
    xd_t = xd_ts[best]
    ws = jnp.asarray(WEIGHTS, jnp.real(y).dtype)
    res = jax.vmap(lambda w: heldout_residual(A_all, held, w * xd_t + (1 - w) * xc_t, y))(ws)
    res = jnp.concatenate([heldout_residual(A_all, held, cg_image(A_t, y_t), y)[None], res])
    A = sense(maps, mask)
    xc = fista_l1(A, y, lam=l1["lam"], iterations=l1["iters"]).x
    xcg = cg_image(A, y)
    sigmas, _ = settings_schedules(cfg, settings)
    mean, std, samples = reconstruct_samples(
        denoiser, A, y, cfg, key, prior_var=prior_var,
        x_start=xc if cfg.start_sigma is not None else None,
        sigmas=sigmas[best], dc_weight=dc[best])
    return {"residuals": res, "setting_residuals": setting_res, "setting": best,
            "classical": xc, "cg": xcg, "mean": mean, "std": std,
            "spread": spread_energy(A, samples, mean)}


def spread_energy(A: Any, samples: jax.Array, mean: jax.Array) -> jax.Array:
    """``mean_k ||A (x_k - x̄)||²``: the posterior samples' spread around their mean pushed
    through the forward model (the numerator of :func:`agreement`; MRI and CT)."""
    return jnp.mean(jax.vmap(lambda s: jnp.sum(jnp.abs(A(s - mean)) ** 2))(samples))


def validation_config(cfg: Any, nfe: int = VALIDATION_NFE) -> Any:
    """The reduced-budget DDS of the validation: one antithetic pair of ``nfe`` (at most
    ``cfg.nfe``) network evaluations each."""
    return dataclasses.replace(cfg, nfe=min(cfg.nfe, nfe), n_samples=VALIDATION_SAMPLES)


def masks(mask: np.ndarray, shape: tuple[int, int], fraction: float | None, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held)`` ``(H, W)`` float32 of the dds scheme."""
    s = SCHEMES["dds"]
    return split(mask, shape, s.fraction if fraction is None else fraction, seed,
                 lines=s.lines)


def decide_all(out: dict, ksp: np.ndarray, mask: np.ndarray, held: np.ndarray,
               noise_std: np.ndarray, warm_start: float | None = None, settings=SETTINGS
               ) -> tuple[np.ndarray, dict]:
    """The complex images ``(S, H, W)`` chosen per slice and the record (:data:`RECORD_FIELDS`)
    from the outputs of :func:`validated_slice` over ``S`` slices with k-space ``ksp``
    ``(S, C, H, W)``; ``warm_start`` is the configured level (``None``: cold start, recorded
    as 0), ``settings`` those :func:`validated_slice` validated."""
    ns, nc, h, w = ksp.shape
    n_held = int(np.sum(held))
    full = np.broadcast_to(np.asarray(mask).reshape(w) if np.size(mask) == w
                           else np.asarray(mask).reshape(h, w), (h, w))
    n_acq = int(np.count_nonzero(full))
    held_energy = np.sum(np.abs(ksp * held) ** 2, axis=(1, 2, 3))
    rec: dict[str, list] = {k: [] for k in RECORD_FIELDS}
    images = np.empty((ns, h, w), np.complex64)
    for i in range(ns):
        res = np.asarray(out["residuals"][i], np.float64)
        floor = noise_floor(float(noise_std[i]), n_held, nc, float(held_energy[i]))
        d = decide(res, floor, 2 * n_held * nc)
        name, decided = _choice(d), d.best is not None
        wt = dds_weight(name)
        images[i] = (out["cg"][i] if name == "cg-sense"
                     else wt * out["mean"][i] + (1 - wt) * out["classical"][i])
        a = agreement(float(out["spread"][i]), float(noise_std[i]), n_acq, nc)
        level, weight = settings[int(out["setting"][i])]
        for k, v in (("candidates", np.asarray(CANDIDATES, dtype="S")),
                     ("heldout_residual", res), ("noise_floor", floor),
                     ("floor_spread", d.spread), ("decided", decided),
                     ("weight", wt), ("choice", name),
                     ("noise_std", float(noise_std[i])), ("posterior_agreement", a),
                     ("posterior_disagrees", a > AGREEMENT_LIMIT),
                     ("settings", np.asarray(settings, np.float32)),
                     ("setting_residual", np.asarray(out["setting_residuals"][i], np.float64)),
                     ("warm_start", 0.0 if warm_start is None else level * warm_start),
                     ("consistency_weight", weight)):
            rec[k].append(v)
    record = {k: np.asarray(v) for k, v in rec.items()}
    record["choice"] = np.asarray(rec["choice"], dtype="S")
    return images, record
