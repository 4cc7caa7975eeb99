"""``evaluate``: the three tiers for one modality, and the report sections.

For each modality the held-out problem of :mod:`recon.evaluation.data` (every image measured
with and without inserted lesions) is reconstructed by

- MRI (4x): zero-filled RSS (baseline), L1-wavelet (FISTA, :func:`recon.solvers.fista.fista_l1`
  with its default relative weight, as in ``recon demo``), DDS with ``n_samples`` posterior samples
  warm-started from that L1-wavelet image (:func:`recon.slice_methods.l1_warm_started_reconstruct`,
  as ``recon mri --validate off``), and validated DDS (``recon mri``'s default,
  :mod:`recon.validated_diffusion`: the held-out-k-space choice between the L1-wavelet image,
  the DDS mean and their blends, classical when undecided; its per-image choice, residuals and
  posterior agreement are a section of the report);
- CT (30 views): FBP (Hann, frequency scaling 0.65), TV (PDHG, weight 2, 300 iterations,
  non-negative; both as in ``recon demo``), DDS with ``n_samples`` posterior samples;

then scored at the pixel level (:mod:`~recon.evaluation.pixel`, on the lesion-free images), the
feature level (:mod:`~recon.evaluation.features`, lesion-free images) and the task level
(:mod:`~recon.evaluation.lesions`). The verdict sentences compare DDS with the classical method
from the measured values: a difference counts only if it exceeds two standard errors.

The denoiser is a parameter: ``evaluate(..., denoiser=D)`` with any callable ``D(x, sigma)``
having ``D.config.sigma_data`` (an EDM prior from :func:`models.load_prior`, or
:func:`gaussian_prior`, the exact Gaussian prior used when trained weights are absent, e.g. in
tests). ``denoiser=None`` loads the shipped prior of the modality.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from recon import interrupts
from recon.evaluation import lesions as task
from recon.evaluation.data import Problem, ct_problem, mri_problem
from recon.evaluation.features import texture_frechet
from recon.evaluation.pixel import pixel_metrics
from recon.report import Section, image_grid

MODALITIES = ("mri", "ct")
PRIOR_NAMES = {"mri": "mri-brain", "ct": "ct-ellipses"}


@dataclasses.dataclass(frozen=True)
class PriorConfig:
    sigma_data: float
    complex: bool


class GaussianStandIn:
    """The exact Gaussian prior ``N(0, sigma_data²)`` per real component, with the ``.config``
    the pipeline reads: a stand-in for a trained prior (tests, or before weights exist). Its
    DDS reconstruction is a Tikhonov-regularised least-squares solution, not a learned prior."""

    def __init__(self, complex_: bool, sigma_data: float = 0.5):
        from models.gaussian import GaussianDenoiser

        self.config = PriorConfig(float(sigma_data), bool(complex_))
        self._d = GaussianDenoiser(mean=jnp.zeros((), jnp.float32),
                                   var=jnp.asarray(sigma_data**2, jnp.float32))

    def __call__(self, x: jax.Array, sigma: jax.Array) -> jax.Array:
        return self._d(x, sigma)


def gaussian_prior(modality: str, sigma_data: float = 0.5) -> GaussianStandIn:
    """:class:`GaussianStandIn` for ``modality`` (complex for MRI, real for CT)."""
    _check_modality(modality)
    return GaussianStandIn(modality == "mri", sigma_data)


def _check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")


@dataclasses.dataclass
class MethodOutput:
    name: str
    kind: str  # "baseline", "classical" or "diffusion"
    present: np.ndarray  # (N, H, W) real
    absent: np.ndarray
    std_absent: np.ndarray | None
    std_present: np.ndarray | None
    seconds: float
    #: validated dds: the per-image record of the lesion-free images (recon.validated_diffusion)
    records: list[dict] | None = None


@dataclasses.dataclass
class ModalityResult:
    modality: str
    description: str
    denoiser_name: str
    truth_present: np.ndarray
    truth_absent: np.ndarray
    lesions: list[task.LesionSet]
    methods: list[MethodOutput]
    rows: list[dict[str, Any]]
    task_rows: list[dict[str, Any]]
    verdict: list[str]
    seconds: float


def _methods(modality: str, denoiser: Any, nfe: int, n_samples: int, noise_std: float,
             seed: int) -> list[tuple[str, str, Callable]]:
    from recon.diffusion.posterior import DiffusionConfig, reconstruct

    cfg = DiffusionConfig(method="dds", nfe=nfe, n_samples=n_samples, noise_std=noise_std)
    prior_var = float(denoiser.config.sigma_data) ** 2
    dds = jax.jit(lambda A, y: reconstruct(denoiser, A, y, cfg, jax.random.PRNGKey(seed),
                                           prior_var=prior_var))
    dds_name = f"dds ({nfe} NFE, {n_samples} samples)"
    if modality == "mri":
        from operators.fft import ifftc
        from recon.solvers.fista import fista_l1

        def zero_filled(m):
            return jnp.sqrt(jnp.sum(jnp.abs(ifftc(m.y, (-2, -1))) ** 2, 0))

        from recon.slice_methods import coil_support, l1_warm_started_reconstruct

        l1 = jax.jit(lambda A, y: fista_l1(A, y).x)
        # as `recon mri --method dds`: warm-started from L1-wavelet; outside the ESPIRiT support
        # the data say nothing, so report 0 there, as the CLI does
        dds_mri = jax.jit(lambda A, y: tuple(
            v * coil_support(A.maps) for v in l1_warm_started_reconstruct(
                denoiser, A, y, cfg, jax.random.PRNGKey(seed))))
        return [("zero-filled", "baseline", zero_filled),
                ("l1-wavelet", "classical", lambda m: l1(m.A, m.y)),
                (dds_name, "diffusion", lambda m: dds_mri(m.A, m.y)),
                (f"validated {dds_name}", "validated",
                 _validated_mri(denoiser, cfg, noise_std, seed))]
    from recon.ct.fbp import fbp
    from recon.solvers.pdhg import tv_recon

    fbp_j = jax.jit(lambda A, y: fbp(A, y, filter="hann", frequency_scaling=0.65))
    tv_j = jax.jit(lambda A, y: tv_recon(A, y, lam=2.0, iterations=300, nonneg=True))
    return [("fbp (hann)", "baseline", lambda m: fbp_j(m.A, m.y)),
            ("tv (pdhg)", "classical", lambda m: tv_j(m.A, m.y)),
            (dds_name, "diffusion", lambda m: dds(m.A, m.y))]


def _validated_mri(denoiser: Any, cfg: Any, noise_std: float, seed: int) -> Callable:
    """``problem image -> (|image|, std, record)`` of validated dds, as ``recon mri``."""
    from recon import validated_diffusion as vd
    from recon.cli_options import DEFAULTS
    from recon.slice_methods import MRI_WARM_START, coil_support

    cfg = dataclasses.replace(cfg, start_sigma=cfg.start_sigma or MRI_WARM_START)
    # the weight of the L1-wavelet row and of DDS's warm start (fista_l1's defaults)
    l1 = {"lam": DEFAULTS["l1-wavelet"]["lam"], "iters": DEFAULTS["l1-wavelet"]["iters"]}
    run = jax.jit(lambda maps, y, key, mask, tr, he: vd.validated_slice(
        denoiser, cfg, vd.validation_config(cfg), l1, maps, y, key, mask, tr, he))

    def one(m):
        mask = np.asarray(m.A.mask)
        h, w = m.y.shape[-2:]
        train, held = vd.masks(mask, (h, w), None)
        out = jax.device_get(run(m.A.maps, m.y, jax.random.PRNGKey(seed), m.A.mask,
                                 jnp.asarray(train), jnp.asarray(held)))
        support = np.asarray(coil_support(m.A.maps))
        out = {k: np.asarray(v)[None] for k, v in out.items()}
        for k in ("classical", "cg", "mean"):
            out[k] = out[k] * support
        img, rec = vd.decide_all(out, np.asarray(m.y)[None], mask, held, np.array([noise_std]),
                                 cfg.start_sigma)
        return np.abs(img[0]), out["std"][0] * support, {k: v[0] for k, v in rec.items()}

    return one


def _real(x: Any) -> np.ndarray:
    x = np.asarray(x)
    return np.abs(x) if np.iscomplexobj(x) else x.astype(np.float64)


def _run_method(name: str, kind: str, fn: Callable, problem: Problem) -> MethodOutput:
    t0 = time.perf_counter()
    out: dict[str, list] = {"present": [], "absent": [], "std_present": [], "std_absent": []}
    records = []
    for case in problem.cases:
        for which in ("present", "absent"):
            res = fn(getattr(case, which))
            if isinstance(res, tuple) and len(res) == 3:  # validated dds: with its record
                *res, rec = res
                if which == "absent":
                    records.append(rec)
            image, std = res if isinstance(res, tuple | list) else (res, None)
            image = _real(jax.block_until_ready(image))
            interrupts.check()  # between jitted reconstructions
            if not np.isfinite(image).all():
                raise FloatingPointError(f"{name} produced NaN or Inf")
            out[which].append(image)
            out[f"std_{which}"].append(None if std is None else np.asarray(std, np.float64))
    has_std = out["std_absent"][0] is not None
    return MethodOutput(
        name, kind, np.stack(out["present"]), np.stack(out["absent"]),
        np.stack(out["std_absent"]) if has_std else None,
        np.stack(out["std_present"]) if has_std else None,
        (time.perf_counter() - t0) / (2 * len(problem.cases)),
        records or None,
    )


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, np.float64)
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else np.inf
    return float(np.mean(values)), se


def _task(m: MethodOutput, truth_p: np.ndarray, truth_a: np.ndarray,
          lesion_sets: list[task.LesionSet]) -> dict[str, Any]:
    cr, s_p, s_a, blobs, beyond = [], [], [], [], []
    for i, les in enumerate(lesion_sets):
        if len(les.positions) == 0:
            continue
        cr.append(task.contrast_recovery(m.present[i], m.absent[i], truth_p[i], truth_a[i], les))
        s_p.append(task.observer_statistics(m.present[i], les, truth_a[i]))
        s_a.append(task.observer_statistics(m.absent[i], les, truth_a[i]))
        delta = task.rois(truth_p[i] - truth_a[i], les.positions, les.half)
        threshold = float(np.median(delta.max(axis=(1, 2))))
        mask = task.object_mask(truth_a[i], les.sigma)
        blobs.append(task.false_lesions(m.absent[i], truth_a[i], les.sigma, threshold, mask))
        if m.std_absent is not None:
            beyond.append(task.beyond_std(m.absent[i], truth_a[i], m.std_absent[i], 3.0, mask))
    cr_all = np.concatenate(cr)
    present, absent = np.concatenate(s_p), np.concatenate(s_a)
    a = task.auc(present, absent)
    return {
        "cr": cr_all, "blobs": np.asarray(blobs, np.float64),
        "auc": a, "auc_se": task.auc_standard_error(a, len(present), len(absent)),
        "dprime": task.dprime(present, absent),
        "beyond_std": float(np.mean(beyond)) if beyond else None,
    }


def _compare(diff: np.ndarray) -> tuple[float, float, int]:
    """Mean paired difference, its standard error, and its sign if beyond 2 SE (else 0)."""
    mean, se = _mean_se(diff)
    return mean, se, (int(np.sign(mean)) if np.isfinite(se) and abs(mean) > 2 * se else 0)


def _pm(se: float, digits: int) -> str:
    return f"± {2 * se:.{digits}f}, 2 SE" if np.isfinite(se) else "no SE from one sample"


def verdict(modality: str, classical: str, dif: dict[str, Any], cl: dict[str, Any]) -> list[str]:
    """Plain sentences, generated from the measured values, on whether diffusion erases or
    invents lesions compared with the classical method."""
    mod = modality.upper()
    d_cr, se_cr, s_cr = _compare(dif["cr"] - cl["cr"])
    d_auc = dif["auc"] - cl["auc"]
    se_auc = float(np.hypot(dif["auc_se"], cl["auc_se"]))
    s_auc = int(np.sign(d_auc)) if abs(d_auc) > 2 * se_auc else 0
    cr_d, cr_c = float(np.mean(dif["cr"])), float(np.mean(cl["cr"]))
    if s_cr < 0 or s_auc < 0:
        erase = f"diffusion ERASES lesions more than {classical}"
    elif s_cr > 0 or s_auc > 0:
        erase = f"diffusion preserves lesions better than {classical}"
    else:
        erase = f"diffusion does not erase lesions more than {classical} (no difference " \
                "beyond 2 standard errors)"
    lost = " It recovers less than half of the inserted contrast." if cr_d < 0.5 else ""
    s1 = (f"{mod}: {erase}: contrast recovery {cr_d:.2f} vs {cr_c:.2f} (paired difference "
          f"{d_cr:+.2f} {_pm(se_cr, 2)}, {len(dif['cr'])} lesions), observer AUC "
          f"{dif['auc']:.2f} vs {cl['auc']:.2f} (difference {d_auc:+.2f} "
          f"{_pm(se_auc, 2)}).{lost}")
    d_bl, se_bl, s_bl = _compare(dif["blobs"] - cl["blobs"])
    if s_bl > 0:
        invent = f"diffusion INVENTS more lesion-like structures than {classical}"
    elif s_bl < 0:
        invent = f"diffusion invents fewer lesion-like structures than {classical}"
    else:
        invent = f"diffusion does not invent more lesion-like structures than {classical} " \
                 "(no difference beyond 2 standard errors)"
    s2 = (f"{mod}: {invent}: {np.mean(dif['blobs']):.1f} vs {np.mean(cl['blobs']):.1f} false "
          f"bright blobs per lesion-free image (paired difference {d_bl:+.1f} {_pm(se_bl, 1)}).")
    if dif["beyond_std"] is not None:
        frac = dif["beyond_std"]
        if frac > 0.01:
            calib = ("more than the 0.27 % expected of a calibrated Gaussian posterior: "
                     "errors the posterior std does not explain")
        elif frac < 0.001:
            calib = ("less than the 0.27 % expected of a calibrated Gaussian posterior: the "
                     "posterior std over-covers the error")
        else:
            calib = "close to the 0.27 % expected of a calibrated Gaussian posterior"
        s2 += (f" {100 * frac:.2f} % of object pixels deviate from the truth by more than 3 "
               f"posterior standard deviations ({calib}).")
    return [s1, s2]


def evaluate(
    modality: str,
    denoiser: Any = None,
    n_images: int = 4,
    nfe: int = 30,
    n_samples: int = 4,
    key: int = 0,
    size: int | None = None,
    n_lesions: int = 4,
    contrast: float = 0.05,
    patch: int = 16,
    log: Callable[[str], None] = print,
) -> ModalityResult:
    """Run the three tiers for ``modality`` (``"mri"`` or ``"ct"``).

    ``denoiser``: the prior for DDS (callable ``D(x, sigma)`` with ``.config.sigma_data``);
    ``None`` loads the shipped prior (``mri-brain`` / ``ct-ellipses``; ``FileNotFoundError`` if
    its weights are absent). Pass :func:`gaussian_prior` to run without trained weights.
    ``key`` is the integer seed of the test data, masks, noise and sampler. ``size`` is the
    image size (MRI default 192x224, CT default 128; squares if given).
    """
    _check_modality(modality)
    if int(nfe) < 1 or int(n_samples) < 2:
        raise ValueError(f"need nfe >= 1 and n_samples >= 2 (for the posterior std), got "
                         f"{nfe} and {n_samples}")
    t0 = time.perf_counter()
    denoiser_name = type(denoiser).__name__
    if denoiser is None:
        from models import load_prior

        denoiser = load_prior(PRIOR_NAMES[modality])
        denoiser_name = f"shipped prior {PRIOR_NAMES[modality]}"
    log(f"{modality.upper()}: simulating {n_images} held-out images with and without lesions")
    if modality == "mri":
        problem = mri_problem(n_images, None if size is None else (size, size), key,
                              n_lesions, contrast)
    else:
        problem = ct_problem(n_images, 128 if size is None else size, key, n_lesions, contrast)
    truth_p = np.stack([c.present.truth for c in problem.cases]).astype(np.float64)
    truth_a = np.stack([c.absent.truth for c in problem.cases]).astype(np.float64)
    lesion_sets = [c.lesions for c in problem.cases]
    if sum(len(s.positions) for s in lesion_sets) < 2:
        raise ValueError("fewer than 2 lesions fit in the test images; use larger images")
    outputs = []
    for name, kind, fn in _methods(modality, denoiser, nfe, n_samples, problem.noise_std, key):
        log(f"{modality.upper()}: {name} ...")
        try:
            outputs.append(_run_method(name, kind, fn, problem))
        except ValueError as err:  # validated dds on images too small to hold lines out
            if kind != "validated":
                raise
            log(f"{modality.upper()}: {name} skipped: {err}")
    convention = "fastmri" if modality == "mri" else "dival"
    patch = min(patch, *truth_a.shape[1:])
    rows, task_rows, tasks = [], [], {}
    for m in outputs:
        t = _task(m, truth_p, truth_a, lesion_sets)
        tasks[m.kind] = (m.name, t)
        cr, cr_se = _mean_se(t["cr"])
        rows.append({"method": m.name, **pixel_metrics(truth_a, m.absent, convention),
                     "texture FD": texture_frechet(truth_a, m.absent, patch),
                     "s/image": round(m.seconds, 2)})
        task_rows.append({"method": m.name, "contrast recovery": cr, "CR s.e.": cr_se,
                          "AUC": t["auc"], "AUC s.e.": t["auc_se"], "d'": t["dprime"],
                          "false blobs/image": float(np.mean(t["blobs"])),
                          ">3 std (%)": "n/a" if t["beyond_std"] is None
                          else 100 * t["beyond_std"]})
    classical_name, cl = tasks["classical"]
    _, dif = tasks["diffusion"]
    text = verdict(modality, classical_name, dif, cl)
    return ModalityResult(modality, problem.description, denoiser_name, truth_p, truth_a,
                          lesion_sets, outputs, rows, task_rows, text, time.perf_counter() - t0)


def sections(result: ModalityResult, command: str) -> list[Section]:
    """Report sections of one modality: pixel + feature tiers, task tier (with the verdict)."""
    mod = result.modality.upper()
    i = 0
    truth = result.truth_present[i]
    vmax = float(truth.max())
    panels = [("truth with lesions", truth)]
    cmaps = ["gray"]
    panels += [(m.name, m.present[i]) for m in result.methods]
    cmaps += ["gray"] * len(result.methods)
    panels += [("true lesions", truth - result.truth_absent[i])]
    panels += [(f"lesions in {m.name}", m.present[i] - m.absent[i]) for m in result.methods]
    cmaps += ["magma"] * (len(result.methods) + 1)
    for m in result.methods:
        if m.std_present is not None:
            panels.append((f"posterior std {m.name}", m.std_present[i]))
            cmaps.append("viridis")
    figure = image_grid(panels, columns=len(result.methods) + 1, vmax=vmax, cmaps=cmaps)
    head = (f"{result.description}. Denoiser: {result.denoiser_name}. {len(result.lesions)} "
            f"images, {sum(len(s.positions) for s in result.lesions)} lesions; "
            f"{result.seconds:.0f} s.")
    pixel = Section(
        f"{mod}: pixel and feature level (lesion-free images)", result.rows, [figure],
        [head, "Pixel: fastMRI NMSE/PSNR/SSIM (MRI) or dival per-image (CT). Feature: Fréchet "
         "distance of patch texture statistics (intensity, gradient and Laplacian energy at 3 "
         "scales) to the ground truths' (lower is closer; biased upwards by few images: compare "
         "methods, not runs).", command],
    )
    task_section = Section(
        f"{mod}: task level (inserted lesions)", result.task_rows, [],
        ["Verdict: " + s for s in result.verdict] + [
            "Contrast recovery: <true lesion, reconstructed difference with/without lesion> / "
            "<true lesion, true lesion> (1 = kept, 0 = erased). AUC and d': non-prewhitening "
            "matched-filter observer (signal and background known exactly: it sees the "
            "reconstruction minus the lesion-free truth), lesion vs lesion-free reconstructions "
            "at the same positions. False blobs: matched-filter peaks of the error of "
            "lesion-free reconstructions at least as strong as the inserted lesions. >3 std: "
            "fraction of object pixels with |error| > 3 posterior std (0.27 % if calibrated).",
        ],
    )
    out = [pixel, task_section]
    for m in result.methods:
        if m.records:
            out.append(_validation_section(mod, m))
    return out


def _validation_section(mod: str, m: MethodOutput) -> Section:
    """Per lesion-free image: the candidate chosen by held-out k-space, the residuals, the
    floor and the posterior agreement (:mod:`recon.validated_diffusion`)."""
    from recon import validated_diffusion as vd

    rows = []
    for i, r in enumerate(m.records or []):
        choice = r["choice"].decode() if isinstance(r["choice"], bytes) else str(r["choice"])
        row = {"image": i, "choice": choice, "decided": bool(r["decided"]),
               "dds weight w": float(r["weight"])}
        for name, res in zip(vd.CANDIDATES, r["heldout_residual"], strict=True):
            row[f"r {name}"] = float(res)
        row.update({"floor": float(r["noise_floor"]), "floor spread": float(r["floor_spread"]),
                    "agreement": float(r["posterior_agreement"]),
                    "samples disagree": bool(r["posterior_disagrees"]),
                    "warm start": float(r["warm_start"]),
                    "λ factor": float(r["consistency_weight"])})
        rows.append(row)
    return Section(
        f"{mod}: {m.name}, per image", rows, [],
        ["Measurement-split validation (recon.validated_diffusion): the acquired k-space lines "
         "outside the calibration region are split; CG-SENSE, the L1-wavelet image (w = 0), "
         "the DDS mean (w = 1) and blends w*dds + (1-w)*L1 are reconstructed from the fit part "
         "and scored "
         "by their normalised held-out residual r; the smallest wins unless every excess over "
         "the noise floor is within its spread (undecided: L1-wavelet). Agreement: the "
         "posterior samples' spread pushed through the forward model on the acquired samples, "
         "over the noise energy there (> "
         f"{vd.AGREEMENT_LIMIT:g}: the samples disagree on measured data more than the noise "
         "explains). Errors in frequencies nobody measured are invisible to r. Warm start "
         "and λ factor: the DDS setting used (validated per image only with recon mri "
         "--validate settings)."])
