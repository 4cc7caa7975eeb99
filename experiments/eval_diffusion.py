"""Evaluation of diffusion reconstruction against tuned classical baselines (issue: diffusion
posterior sampling). One command per modality; results to JSON, a markdown table and a PSNR-vs-NFE
plot::

    python -m experiments.eval_diffusion mri --data real --tune --samples 4 --out results/
    python -m experiments.eval_diffusion ct --test 100 --nfe 10 20 50 --samples 4 --out results/

MRI (``--data real``): real brain slices of individual subjects from two sources that the
``mri-brain`` prior (trained on the MNI ICBM152 template only) never saw, reported per source and
overall so that domain shift is visible (``--sources`` picks them; see :data:`REAL_SOURCES`):
``dipy`` (slices shipped inside the dipy wheel, ``pip install -e ".[eval]"``, :func:`real_planes`)
and ``colin27`` (the Colin27 single-subject T1 shipped by the Debian package ``mricron-data``,
``apt-get install mricron-data``, :func:`colin27_planes`). ``--data template`` (default, no extra
package): axial planes of the MNI T1 template from the held-out band ``[HOLDOUT_Z0, HOLDOUT_Z1)``
that no training crop reads (caveat: the other planes of that volume were trained on). Either
way: a smooth phase, interpolation to a 2x finer grid, 8 analytic coils, k-space truncated to the
target grid, complex noise 0.5 % of the maximum (:func:`recon.simulate.simulate_multicoil`);
fastMRI-style 1D random masks at 4x (8 % centre) and 8x (4 % centre); coil maps from ESPIRiT on
the data; CG-SENSE and L1-wavelet weights and the DDS settings (``--tune``) chosen on the
validation slices (pooled over the chosen sources); fastMRI metrics over the test slices of
each source and over all of them (``PSNR``/``SSIM`` overall, ``PSNR <source>``/``SSIM <source>``
per source), written to JSON, a markdown table and a plot.

CT: dival ``ellipses`` protocol: held-out ellipse images (128x128, a key domain training never
used) projected on a 2x finer grid, 30 angles over 180 degrees, 183 bins, white Gaussian noise of
2.5 % of the mean absolute sinogram value; FBP (Hann, frequency scaling tuned on validation
images) and TV (PDHG, weight tuned on validation images); dival's per-image PSNR/SSIM (data range
max - min of each truth), averaged.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from recon.report import atomic_write, text_table


# --------------------------------------------------------------------------------------- MRI
def template_planes(zs) -> list[np.ndarray]:
    """Axial planes ``zs`` of the MNI T1 template, centre-cropped to 192x224, in [0, 1]."""
    from models.data.brain import load_volumes

    t1 = load_volumes()[3]
    nx, ny = t1.shape[:2]
    h, w = 192, 224
    x0, y0 = (nx - h) // 2, (ny - w) // 2
    return [t1[x0 : x0 + h, y0 : y0 + w, z] for z in zs]


def real_planes() -> dict[str, list[np.ndarray]]:
    """Real brain slices of individual subjects that ship inside the ``dipy`` wheel (BSD
    licence), on a common 192x192 grid: ``t1_coronal_slice.npy`` (a skull-stripped T1 coronal
    slice, 256x256 at 1 mm, centre-cropped) and the b=0 images of ``S0_10slices.nii.gz`` (an axial
    diffusion-weighted EPI series, 128x128 at 2 mm, cubic-zoomed by 1.5). Validation: S0 slices 2
    and 7; test: the T1 slice and S0 slices 3-6.
    """
    from importlib.resources import files

    import nibabel as nib
    from scipy import ndimage

    try:
        folder = files("dipy.data") / "files"
    except ModuleNotFoundError:
        raise SystemExit("--data real needs the dipy package (pip install dipy): its wheel "
                         "carries the real brain slices used here") from None
    t1 = np.load(str(folder / "t1_coronal_slice.npy")).astype(np.float32)
    t1 = t1[32:224, 32:224]
    s0 = np.asarray(nib.load(str(folder / "S0_10slices.nii.gz")).dataobj, np.float32)[..., 0]
    s0 = [np.clip(ndimage.zoom(s0[:, :, z].T[::-1], 1.5, order=3), 0, None) for z in range(10)]
    return {"val": [s0[2], s0[7]], "test": [t1, *s0[3:7]]}


COLIN27 = pathlib.Path("/usr/share/mricron/templates/ch2.nii.gz")
COLIN27_VAL_Z = (62, 108)
COLIN27_TEST_Z = (85, 55, 115, 70, 100)


def colin27_planes(path: str | pathlib.Path | None = None) -> dict[str, list[np.ndarray]]:
    """Axial planes of Colin27 (``ch2.nii.gz``, 181x217x181 at 1 mm, T1 with skull and scalp) as
    shipped by the Debian package ``mricron-data`` (MRIcron's templates, BSD-3-clause per the
    package's copyright file; the image: Holmes et al. 1998, one subject scanned 27 times and
    averaged, McConnell Brain Imaging Centre). One individual, not the ICBM152 population average
    the ``mri-brain`` prior was trained on (the two share only the stereotaxic space), so no
    training source overlaps it. Planes (voxel z) :data:`COLIN27_VAL_Z` for validation and
    :data:`COLIN27_TEST_Z` for test, shown as :func:`real_planes` shows dipy's (anterior up),
    resampled by 192/217 (cubic; the whole head fits) and zero-padded left and right to 192x192.
    """
    import nibabel as nib
    from scipy import ndimage

    path = pathlib.Path(path) if path is not None else COLIN27
    if not path.is_file():
        raise SystemExit(f"--sources colin27 needs {path}: install the Debian package "
                         "mricron-data (apt-get install mricron-data), or use --sources dipy")
    vol = np.asarray(nib.load(str(path)).dataobj, np.float32)
    if vol.ndim != 3 or vol.shape[1] < 2 or max(COLIN27_VAL_Z + COLIN27_TEST_Z) >= vol.shape[2]:
        raise SystemExit(f"{path}: expected the 181x217x181 Colin27 volume, found shape "
                         f"{vol.shape}")

    def plane(z: int) -> np.ndarray:
        p = vol[:, :, z].T[::-1]  # rows posterior <- anterior, columns left -> right
        p = np.clip(ndimage.zoom(p, 192 / p.shape[0], order=3), 0, None)[:192, :192]
        dh, dw = 192 - p.shape[0], 192 - p.shape[1]
        return np.pad(p, ((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2))).astype(np.float32)

    return {"val": [plane(z) for z in COLIN27_VAL_Z], "test": [plane(z) for z in COLIN27_TEST_Z]}


REAL_SOURCES = {"dipy": real_planes, "colin27": colin27_planes}
"""``--data real`` sources: name -> loader returning ``{"val": [...], "test": [...]}`` 192x192
magnitude planes. Training never reads any of them (experiments/PRIORS.md, "Anatomy sources")."""


def md_table(rows: list[dict]) -> str:
    """Rows as a markdown table (numbers with 4 significant digits)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    out += ["| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(out) + "\n"


def mri_data(planes, accel: int, seed: int = 0):
    """Simulated 8-coil acquisitions of magnitude ``planes`` (see the module docstring)."""
    from scipy import ndimage

    from operators.mri import random_mask
    from recon.simulate import simulate_multicoil, smooth_phase

    centre = {4: 0.08, 8: 0.04}[accel]
    out = []
    for i, plane in enumerate(planes):
        h, w = plane.shape
        plane = plane / plane.max()
        fine = np.clip(ndimage.zoom(plane, 2, order=3), 0, None) * smooth_phase((2 * h, 2 * w))
        sim = simulate_multicoil(fine, (h, w), 8, 0.005, jax.random.PRNGKey(1000 * seed + i))
        mask = random_mask(1000 * seed + i, w, center_fractions=centre, accelerations=accel)
        out.append({"kspace": sim["kspace"] * mask, "mask": mask, "target": sim["target"],
                    "noise_std": float(sim["noise_std"]) / np.sqrt(2)})
    return out


def tune_classical(val, method: str, grid) -> float:
    from recon.classical_mri import reconstruct as classical
    from recon.metrics import psnr

    scores = []
    for lam in grid:
        vals = [psnr(d["target"][None], classical(d["kspace"][None], d["mask"], method,
                                                  lam=lam)) for d in val]
        scores.append(np.mean(vals))
    return float(grid[int(np.argmax(scores))])


def sampler_settings(args) -> list[dict]:
    """The DDS settings searched on the validation data (``--tune``, or the ``--tune-grid``
    list, each on top of ``--settings``), or just ``--settings``."""
    base = json.loads(args.settings) if args.settings else {}
    if args.tune_grid:
        return [{**base, **st} for st in json.loads(args.tune_grid)]
    if not args.tune:
        return [base]
    return [{"eta": e, "cg_iterations": c, "dc_weight": w}
            for e in (0.5, 1.0) for c in (5, 20) for w in (0.1, 0.3, 1.0)]


def runs(args) -> list[tuple[int, int]]:
    """``(NFE per sample, posterior samples K)`` of the test runs: every ``--nfe`` with K = 1,
    every ``--samples`` K > 1 at each ``--nfe-samples`` NFE, and each ``--runs`` ``NFExK``."""
    return ([(n, 1) for n in args.nfe]
            + [(n, k) for k in args.samples if k > 1 for n in args.nfe_samples] + args.runs)


def nfe_times_k(text: str) -> tuple[int, int]:
    """``"25x2"`` -> ``(25, 2)``: a ``--runs`` entry (argparse type)."""
    try:
        nfe, k = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NFExK such as 25x2, got {text!r}") from None
    if nfe < 1 or k < 1:
        raise argparse.ArgumentTypeError(f"NFE and K must be >= 1, got {text!r}")
    return nfe, k


def run_name(method: str, nfe: int, k: int) -> str:
    """Row label; the posterior mean of ``k`` samples costs ``k * nfe`` network evaluations
    (antithetic pairs when ``k`` is even, the sampler's default)."""
    return f"{method} NFE {nfe}" + (f" mean of {k} ({k * nfe} NFE in all)" if k > 1 else "")


def samples_of(name: str) -> int:
    """K of a :func:`run_name` label (1 for other methods)."""
    return int(name.split("mean of ")[1].split()[0]) if "mean of " in name else 1


def pick(settings: list[dict], scores: list[float]) -> dict:
    for st, sc in zip(settings, scores, strict=True):
        print(f"  validation {sc:.2f} dB: {st or 'defaults'}", flush=True)
    best = settings[int(np.argmax(scores))]
    print(f"selected on validation: {best or 'defaults'} "
          f"({max(scores):.2f} dB; range {min(scores):.2f}-{max(scores):.2f})", flush=True)
    return best


def mri_diffusion(prior, data, cfg, l1_lam: float):
    """Posterior-mean magnitudes and median seconds per slice of one diffusion setting; a warm
    start (``start_sigma``) begins at the L1-wavelet reconstruction with weight ``l1_lam`` (the
    validation-tuned one), computed inside the timed function."""
    from operators.mri import sense
    from recon.coils.espirit import espirit
    from recon.diffusion.posterior import reconstruct
    from recon.slice_methods import coil_support, l1_warm_started_reconstruct

    def one(A, y):
        key = jax.random.PRNGKey(0)
        if cfg.start_sigma is None:
            return reconstruct(prior, A, y, cfg, key, prior_var=prior.config.sigma_data**2)
        return l1_warm_started_reconstruct(prior, A, y, cfg, key, lam=l1_lam)

    run = jax.jit(one)
    imgs, times = [], []
    for d in data:
        if "maps" not in d:  # estimated once per slice, reused by every sampler setting
            d["maps"] = espirit(jnp.asarray(d["kspace"]), mask=d["mask"])
        maps = d["maps"]
        A = sense(maps, jnp.asarray(d["mask"], jnp.float32))
        if not times:
            jax.block_until_ready(run(A, jnp.asarray(d["kspace"])))  # compile
        t0 = time.perf_counter()
        mean, _ = jax.block_until_ready(run(A, jnp.asarray(d["kspace"])))
        times.append(time.perf_counter() - t0)
        imgs.append(np.abs(np.asarray(mean * coil_support(maps))))
    return np.stack(imgs), float(np.median(times))


def eval_mri(args) -> list[dict]:
    from models import load_prior
    from models.data.brain import HOLDOUT_Z0, HOLDOUT_Z1
    from recon.classical_mri import reconstruct as classical
    from recon.diffusion.posterior import DiffusionConfig
    from recon.metrics import fastmri_metrics

    if args.data == "real":
        loaded = {name: REAL_SOURCES[name]() for name in args.sources}
        val_planes = [p for v in loaded.values() for p in v["val"]]
        test_sets = {name: v["test"][: args.test] for name, v in loaded.items()}
    else:
        val_planes = template_planes(range(HOLDOUT_Z0, HOLDOUT_Z0 + 2))
        test_sets = {"mni-template":
                     template_planes(range(HOLDOUT_Z0 + 3, HOLDOUT_Z1))[: args.test]}
    test_planes = [p for v in test_sets.values() for p in v]
    source_of = np.array([name for name, v in test_sets.items() for _ in v])
    args.test_slices = {name: len(v) for name, v in test_sets.items()}
    prior = load_prior(args.prior or "mri-brain")
    rows = []
    settings_used = args.settings_used = {}
    for accel in args.accel:
        val, test = mri_data(val_planes, accel, seed=1), mri_data(test_planes, accel, seed=0)
        truth = np.stack([d["target"] for d in test])
        recs: dict[str, tuple[np.ndarray, float]] = {}
        t0 = time.perf_counter()
        recs["zero-filled"] = (np.concatenate([classical(d["kspace"][None], d["mask"],
                                                         "zero-filled") for d in test]),
                               (time.perf_counter() - t0) / len(test))
        lams = {}
        for method, grid in (("cg-sense", [1e-4, 1e-3, 1e-2, 3e-2, 1e-1]),
                             ("l1-wavelet", [5e-5, 1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3, 3.2e-3])):
            lam = lams[method] = tune_classical(val, method, grid)
            t0 = time.perf_counter()
            imgs = np.concatenate([classical(d["kspace"][None], d["mask"], method, lam=lam)
                                   for d in test])
            recs[f"{method} (lam {lam:g})"] = (imgs, (time.perf_counter() - t0) / len(test))
        val_truth = np.stack([d["target"] for d in val])
        settings = sampler_settings(args)
        scores = []
        for st in settings if len(settings) > 1 else []:
            cfg = DiffusionConfig(method=args.method, nfe=args.tune_nfe,
                                  n_samples=args.tune_samples, noise_std=val[0]["noise_std"],
                                  **st)
            scores.append(fastmri_metrics(
                val_truth, mri_diffusion(prior, val, cfg, lams["l1-wavelet"])[0])["PSNR"])
        best = pick(settings, scores) if scores else settings[0]
        for nfe, k in runs(args):
            cfg = DiffusionConfig(method=args.method, nfe=nfe, n_samples=k,
                                  noise_std=test[0]["noise_std"], **best)
            recs[run_name(args.method, nfe, k)] = mri_diffusion(prior, test, cfg,
                                                                lams["l1-wavelet"])
        settings_used[f"{accel}x"] = best
        for name, (imgs, sec) in recs.items():
            m = fastmri_metrics(truth, imgs)
            row = {"accel": accel, "method": name, "NMSE": m["NMSE"], "PSNR": m["PSNR"],
                   "SSIM": m["SSIM"], "s/slice": sec, "slices": len(test),
                   "samples": samples_of(name)}
            if len(test_sets) > 1:  # per source: the domain shift between them
                for src in test_sets:
                    sel = source_of == src
                    ms = fastmri_metrics(truth[sel], imgs[sel])
                    row[f"PSNR {src}"], row[f"SSIM {src}"] = ms["PSNR"], ms["SSIM"]
            rows.append(row)
            print(text_table(rows[-1:]), flush=True)
    return rows


# ------------------------------------------------------------------ validated dds (issue 16)
def eval_validated(args) -> list[dict]:
    """``recon mri --method dds`` with and without ``--validate`` on the real test slices of
    ``--sources`` (:data:`REAL_SOURCES`: the dipy T1 coronal slice and S0 EPI slices 3-6, and
    the Colin27 planes of :func:`colin27_planes`),
    simulated as :func:`mri_data` (8 coils, 0.5 % noise, no inverse crime), against CG-SENSE
    and L1-wavelet at their library defaults, with the command line's ESPIRiT maps and noise
    estimate. Per slice: PSNR/SSIM of each, the candidate chosen, the oracle choice (best PSNR
    among the full-data candidates: is the reduced-budget validation's decision right?), and
    the seconds of today's dds and of validated dds, timed in turns in one process after
    compilation (the ratio is the cost bound of the issue: <= 1.5)."""
    from models import load_prior
    from operators.mri import sense
    from recon import validated_diffusion as vd
    from recon.classical_mri import DEFAULTS
    from recon.classical_mri import reconstruct as classical
    from recon.coils.espirit import espirit
    from recon.diffusion.posterior import DiffusionConfig
    from recon.metrics import fastmri_metrics
    from recon.sampling import calibration_region
    from recon.slice_methods import (
        MRI_WARM_START,
        coil_support,
        estimate_noise_std,
        l1_warm_started_reconstruct,
    )

    val_nfe = vd.VALIDATION_NFE if args.validation_nfe is None else args.validation_nfe
    if args.stress:
        planes, names = stress_planes()
    else:
        source_names = {"dipy": ["dipy T1 coronal", *[f"dipy S0 {z}" for z in range(3, 7)]],
                        "colin27": [f"colin27 z{z}" for z in COLIN27_TEST_Z]}
        planes, names = [], []
        for source in args.sources:
            test = REAL_SOURCES[source]()["test"][: args.test]
            planes += test
            names += source_names[source][: len(test)]
    prior = load_prior(args.prior or "mri-brain")
    l1 = {"lam": DEFAULTS["l1-wavelet"]["lam"], "iters": DEFAULTS["l1-wavelet"]["iters"]}
    cfg = DiffusionConfig(method="dds", nfe=args.dds_nfe, n_samples=args.dds_samples,
                          noise_std=1.0, start_sigma=MRI_WARM_START)

    def with_noise(c, s):  # noise_std traced: one compiled program for every slice
        return dataclasses.replace(c, noise_std=s)

    today = jax.jit(lambda m, y, key, msk, s: l1_warm_started_reconstruct(
        prior, sense(m, msk), y, with_noise(cfg, s), key, lam=l1["lam"],
        iterations=l1["iters"]))
    settings = vd.SETTINGS_GRID if args.validate_settings else vd.SETTINGS
    valid = jax.jit(lambda m, y, key, msk, s, tr, he: vd.validated_slice(
        prior, with_noise(cfg, s), with_noise(vd.validation_config(cfg, val_nfe), s), l1, m, y, key,
        msk, tr, he, settings=settings))
    rows = []
    for accel in args.accel:
        for name, d in zip(names, mri_data(planes, accel, seed=0), strict=True):
            k, mask, truth = np.asarray(d["kspace"]), np.asarray(d["mask"]), d["target"]
            nc, h, w = k.shape
            region, kernel = calibration_region(mask, (h, w), nc)
            maps = espirit(jnp.asarray(k, jnp.complex64), region, kernel_width=kernel)
            support = np.asarray(coil_support(maps))
            sigma = estimate_noise_std(k, mask)  # as recon mri without --noise-std
            train, held = vd.masks(mask, (h, w), None)
            a_today = (maps, jnp.asarray(k), jax.random.PRNGKey(0),
                       jnp.asarray(mask, jnp.float32), jnp.float32(sigma))
            a_valid = (*a_today, jnp.asarray(train), jnp.asarray(held))
            if not rows:  # compile both once (noise_std and the masks are arguments)
                jax.block_until_ready(today(*a_today))
                jax.block_until_ready(valid(*a_valid))
            t = {"today": [], "valid": []}
            for rnd in range(args.rounds):  # in turns, the first alternating per round
                order = ("today", "valid") if (len(rows) + rnd) % 2 == 0 else ("valid", "today")
                for which in order:
                    t0 = time.perf_counter()
                    if which == "today":
                        mean_today, _ = jax.block_until_ready(today(*a_today))
                    else:
                        out = jax.block_until_ready(valid(*a_valid))
                        out = {kk: np.asarray(v)[None] for kk, v in out.items()}
                        for kk in ("classical", "cg", "mean"):
                            out[kk] = out[kk] * support
                        img, rec = vd.decide_all(out, k[None], mask, held, np.array([sigma]),
                                                 MRI_WARM_START, settings)
                    t[which].append(time.perf_counter() - t0)
            t = {kk: float(np.median(v)) for kk, v in t.items()}
            recs = {"cg-sense": classical(k[None], mask, "cg-sense")[0],
                    "l1-wavelet": classical(k[None], mask, "l1-wavelet")[0],
                    "dds": np.abs(np.asarray(mean_today) * support),
                    "validated dds": np.abs(img[0])}
            row = {"accel": accel, "slice": name,
                   "source": "stress" if args.stress else "dipy T1" if "T1" in name
                   else "dipy S0" if name.startswith("dipy") else "colin27"}
            for m, x in recs.items():
                met = fastmri_metrics(truth[None], x[None])
                row[f"PSNR {m}"], row[f"SSIM {m}"] = met["PSNR"], met["SSIM"]
            cand_psnr = [fastmri_metrics(truth[None], np.abs(out["cg"][0])[None])["PSNR"]]
            cand_psnr += [fastmri_metrics(truth[None], np.abs(
                wt * out["mean"][0] + (1 - wt) * out["classical"][0])[None])["PSNR"]
                for wt in vd.WEIGHTS]
            row.update({
                "best classical": max(row["PSNR cg-sense"], row["PSNR l1-wavelet"]),
                "choice": rec["choice"][0].decode(), "weight": float(rec["weight"][0]),
                "decided": bool(rec["decided"][0]),
                "oracle choice": vd.CANDIDATES[int(np.argmax(cand_psnr))],
                "PSNR oracle choice": float(max(cand_psnr)),
                "PSNR candidates": dict(zip(vd.CANDIDATES, map(float, cand_psnr),
                                            strict=True)),
                "residuals": [float(v) for v in rec["heldout_residual"][0]],
                "floor": float(rec["noise_floor"][0]), "spread": float(rec["floor_spread"][0]),
                "setting": [float(v) for v in settings[int(out["setting"][0])]],
                "setting residuals": [float(v) for v in rec["setting_residual"][0]],
                "agreement": float(rec["posterior_agreement"][0]),
                "s dds": t["today"], "s validated": t["valid"]})
            row["validated - best classical"] = row["PSNR validated dds"] - row["best classical"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def stress_planes() -> tuple[list[np.ndarray], list[str]]:
    """Images far from the brain prior's training data (where DDS should lose), 192x192 from
    scikit-image's bundled data: the Shepp-Logan phantom and the cameraman photograph."""
    from scipy import ndimage
    from skimage import data

    out = []
    for img in (data.shepp_logan_phantom(), data.camera()):
        img = np.asarray(img, np.float32)
        out.append(np.clip(ndimage.zoom(img, 192 / img.shape[0], order=3), 0, None))
    return out, ["Shepp-Logan phantom", "cameraman"]


def summarise_validated(rows: list[dict]) -> dict:
    """Means per source and overall, the worst gap to the best classical, the time ratio."""
    out = {}
    for label, sub in (("overall", rows), *[(s, [r for r in rows if r["source"] == s])
                                            for s in sorted({r["source"] for r in rows})]):
        for accel in (None, *sorted({r["accel"] for r in sub})):
            part = [r for r in sub if accel is None or r["accel"] == accel]
            if not part:
                continue
            key = label + ("" if accel is None else f" {accel}x")
            out[key] = {m: float(np.mean([r[f"PSNR {m}"] for r in part]))
                        for m in ("cg-sense", "l1-wavelet", "dds", "validated dds")}
            out[key]["best classical"] = float(np.mean([r["best classical"] for r in part]))
            out[key]["worst validated - best classical"] = float(
                np.min([r["validated - best classical"] for r in part]))
            out[key]["slices"] = len(part)
    out["time ratio validated/dds (median)"] = float(np.median(
        [r["s validated"] / r["s dds"] for r in rows]))
    out["s/slice dds (median)"] = float(np.median([r["s dds"] for r in rows]))
    out["s/slice validated (median)"] = float(np.median([r["s validated"] for r in rows]))
    out["choice = oracle choice"] = int(sum(r["choice"] == r["oracle choice"] for r in rows))
    out["mean PSNR oracle choice - validated"] = float(np.mean(
        [r["PSNR oracle choice"] - r["PSNR validated dds"] for r in rows]))
    out["cases"] = len(rows)
    return out


# ---------------------------------------------------------------------------------------- CT
def ct_data(n: int, offset: int, seed_domain: int, level: float = 0.025):
    from models.data.ellipses import ellipse_images
    from operators.ct import parallel_beam
    from recon.ct.noise import gaussian

    key = jax.random.fold_in(jax.random.key(seed_domain), offset)
    truth = np.asarray(ellipse_images(key, n, 128))
    fine = ellipse_images(key, n, 256)
    angles = np.linspace(0, np.pi, 30, endpoint=False)
    A_fine = parallel_beam((256, 256), angles, 183, pixel_size=0.5)
    clean = jax.vmap(A_fine)(fine)
    keys = jax.random.split(jax.random.PRNGKey(offset + 1), n)
    sino = jax.vmap(lambda k, s: gaussian(k, s, level, relative=True))(keys, clean)
    noise_std = level * np.asarray(jnp.mean(jnp.abs(clean), axis=(1, 2)))
    return truth, np.asarray(sino), noise_std, angles


def eval_ct(args) -> list[dict]:
    from models import load_prior
    from models.data.ellipses import EllipsesSource
    from operators.ct import parallel_beam
    from recon.ct.fbp import fbp
    from recon.diffusion.posterior import DiffusionConfig, reconstruct
    from recon.metrics import dival_psnr, dival_ssim

    domain = EllipsesSource().heldout_seed
    val_truth, val_sino, val_noise, angles = ct_data(8, 1, domain)
    truth, sino, noise_std, _ = ct_data(args.test, 0, domain)
    A = parallel_beam((128, 128), angles, 183)

    def score(t, r):
        return (float(np.mean([dival_psnr(a, b) for a, b in zip(t, r, strict=True)])),
                float(np.mean([dival_ssim(a, b) for a, b in zip(t, r, strict=True)])))

    def fbp_all(s, scaling):
        return np.asarray(jax.jit(jax.vmap(lambda x: fbp(A, x, "hann", scaling)))(s))

    scalings = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    best = scalings[int(np.argmax([score(val_truth, fbp_all(val_sino, f))[0] for f in scalings]))]
    recs = {}
    t0 = time.perf_counter()
    recs[f"fbp (hann, scaling {best})"] = (fbp_all(sino, best),
                                          (time.perf_counter() - t0) / len(sino))
    try:
        from recon.solvers import pdhg

        def tv_all(s, lam):
            f = jax.jit(jax.vmap(lambda x: pdhg.tv_recon(A, x, lam=lam, iterations=300,
                                                          nonneg=True)))
            return np.asarray(f(s))

        lams = [0.5, 1.0, 2.0, 3.0, 5.0]
        lam = tv_lam = lams[int(np.argmax([score(val_truth, tv_all(val_sino, v))[0]
                                           for v in lams]))]
        t0 = time.perf_counter()
        recs[f"tv (lam {lam})"] = (tv_all(sino, lam), (time.perf_counter() - t0) / len(sino))
    except (ImportError, AttributeError, TypeError) as err:
        print(f"TV skipped: {err}")
        tv_lam = None
    prior = load_prior(args.prior or "ct-ellipses")

    def diffusion_all(s, cfg):
        """A warm start (``start_sigma``) begins at the TV reconstruction (tuned weight)."""
        if cfg.start_sigma is not None and tv_lam is None:
            raise SystemExit("a CT warm start needs the TV solver")

        def one(y, k):
            x_start = None if cfg.start_sigma is None else pdhg.tv_recon(
                A, y, lam=tv_lam, iterations=300, nonneg=True)
            return reconstruct(prior, A, y, cfg, k, prior_var=prior.config.sigma_data**2,
                               x_start=x_start)[0]

        run = jax.jit(jax.vmap(one))
        keys = jax.random.split(jax.random.PRNGKey(0), len(s))
        batch = min(args.batch, len(s))
        jax.block_until_ready(run(jnp.asarray(s[:batch]), keys[:batch]))  # compile
        t0 = time.perf_counter()
        out = [np.asarray(run(jnp.asarray(s[i : i + batch]), keys[i : i + batch]))
               for i in range(0, len(s) - len(s) % batch, batch)]
        rest = len(s) % batch
        if rest:
            pad = np.concatenate([s[-rest:], np.repeat(s[-1:], batch - rest, 0)])
            kpad = jnp.concatenate([keys[-rest:], jnp.repeat(keys[-1:], batch - rest, 0)])
            out.append(np.asarray(run(jnp.asarray(pad), kpad))[:rest])
        return np.concatenate(out), (time.perf_counter() - t0) / len(s)

    settings = sampler_settings(args)
    scores = []
    for st in settings if len(settings) > 1 else []:
        cfg = DiffusionConfig(method=args.method, nfe=args.tune_nfe,
                              n_samples=args.tune_samples, noise_std=float(np.mean(val_noise)),
                              **st)
        scores.append(score(val_truth, diffusion_all(val_sino, cfg)[0])[0])
    best = pick(settings, scores) if scores else settings[0]
    args.settings_used = best
    for nfe, k in runs(args):
        cfg = DiffusionConfig(method=args.method, nfe=nfe, n_samples=k,
                              noise_std=float(np.mean(noise_std)), **best)
        recs[run_name(args.method, nfe, k)] = diffusion_all(sino, cfg)
    rows = []
    for name, (imgs, sec) in recs.items():
        p, s = score(truth, imgs)
        rows.append({"method": name, "PSNR": p, "SSIM": s, "s/image": sec,
                     "images": len(truth), "samples": samples_of(name)})
    print(text_table(rows))
    return rows


def plot(rows: list[dict], path: pathlib.Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    groups = sorted({r.get("accel", 0) for r in rows})
    for g in groups:
        sub = [r for r in rows if r.get("accel", 0) == g]
        label = f"{g}x" if g else ""
        ks = sorted({r.get("samples", 1) for r in sub if "NFE" in r["method"]})
        dif = []
        for k in ks:
            dif = [(k * int(r["method"].split("NFE ")[1].split()[0]), r["PSNR"]) for r in sub
                   if "NFE" in r["method"] and r.get("samples", 1) == k]
            ax.plot(*zip(*sorted(dif), strict=True), "o-",
                    label=f"diffusion {label}" + (f" (mean of {k})" if k > 1 else ""))
        for r in sub:
            if "NFE" not in r["method"]:
                ax.axhline(r["PSNR"], ls="--", lw=0.8)
                ax.text(min(d[0] for d in dif) if dif else 1, r["PSNR"],
                        f"{r['method']} {label}", fontsize=6, va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel("network evaluations in all (NFE x samples)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("modality", choices=("mri", "ct", "validated"),
                   help="validated: recon mri --method dds with and without --validate on the "
                        "real test slices (issue 16; --test, --accel)")
    p.add_argument("--dds-nfe", type=int, default=25, help="validated: NFE per sample")
    p.add_argument("--dds-samples", type=int, default=2, help="validated: samples")
    p.add_argument("--rounds", type=int, default=1,
                   help="validated: timed rounds per slice (median), in turns")
    p.add_argument("--stress", action="store_true",
                   help="validated: out-of-domain images (Shepp-Logan, cameraman) instead of "
                        "the real brain slices")
    p.add_argument("--validate-settings", action="store_true",
                   help="validated: also validate dds's settings per slice (recon mri "
                        "--validate settings: recon.validated_diffusion.SETTINGS_GRID)")
    p.add_argument("--validation-nfe", type=int, default=None,
                   help="validated: NFE per sample of the validation DDS (default: the "
                        "library's recon.validated_diffusion.VALIDATION_NFE)")
    p.add_argument("--test", type=int, default=8,
                   help="test slices/images (MRI --data real and validated: per source)")
    p.add_argument("--nfe", type=int, nargs="+", default=[10, 20, 50, 100, 200])
    p.add_argument("--data", choices=("template", "real"), default="template",
                   help="MRI slices: held-out planes of the MNI template (default) or real "
                        "subjects' slices (--sources: dipy's wheel, Debian's mricron-data)")
    p.add_argument("--sources", nargs="+", choices=tuple(REAL_SOURCES),
                   default=list(REAL_SOURCES),
                   help="--data real: the sources of real slices (default all: dipy colin27); "
                        "--test slices of each, validation slices of all pooled")
    p.add_argument("--accel", type=int, nargs="+", default=[4, 8], help="MRI accelerations")
    p.add_argument("--method", default="dds", help="diffusion method (dds, dps, score-mri)")
    p.add_argument("--prior", default=None, help="prior name (default per modality)")
    p.add_argument("--batch", type=int, default=4, help="CT images per vmapped batch")
    p.add_argument("--out", default="results", help="output directory")
    p.add_argument("--tune", action="store_true",
                   help="choose DDS's eta, CG iterations and proximal weight on the validation "
                        "data (12 settings) before the test run")
    p.add_argument("--samples", type=int, nargs="+", default=[1],
                   help="posterior samples K averaged per image; K > 1 runs at --nfe-samples")
    p.add_argument("--nfe-samples", type=int, nargs="+", default=[20, 50],
                   help="NFE (per sample) of the K > 1 runs")
    p.add_argument("--tune-nfe", type=int, default=20, help="NFE of the tuning runs")
    p.add_argument("--tune-samples", type=int, default=1,
                   help="posterior samples K averaged in the tuning runs (default 1)")
    p.add_argument("--tune-grid", default=None,
                   help='settings to choose from on the validation data, as a JSON list, e.g. '
                        '\'[{"target_level": 0.4}, {"target_level": 0.8}]\' (instead of --tune)')
    p.add_argument("--runs", nargs="+", type=nfe_times_k, default=[], metavar="NFExK",
                   help="further test runs, K posterior samples of NFE each, e.g. 25x2")
    p.add_argument("--settings", default=None,
                   help='fixed sampler settings as JSON, e.g. \'{"eta": 1.0, "cg_iterations": '
                        '20}\' (what an earlier --tune run selected)')
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.modality == "validated":
        rows = eval_validated(args)
        result = {"args": vars(args), "rows": rows, "summary": summarise_validated(rows)}
        print(json.dumps(result["summary"], indent=1))
        path = out / ("eval_validated_dds" + ("_stress" if args.stress else "")
                      + ("_settings" if args.validate_settings else "")
                      + ("" if args.validation_nfe is None
                         else f"_vnfe{args.validation_nfe}") + ".json")
        atomic_write(path, json.dumps(result, indent=1))
        print(f"wrote {path}")
        return 0
    rows = eval_mri(args) if args.modality == "mri" else eval_ct(args)
    stem = out / f"eval_{args.modality}_{args.method}"
    atomic_write(stem.with_suffix(".json"), json.dumps({"args": vars(args), "rows": rows},
                                                       indent=2))
    atomic_write(stem.with_suffix(".md"), md_table(rows))
    plot(rows, stem.with_suffix(".png"), f"{args.modality.upper()}: PSNR against NFE")
    print(f"wrote {stem}.json, {stem}.md and {stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
