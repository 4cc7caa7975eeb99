"""``recon bench mri-recon``: ESPIRiT and the MRI solvers against sigpy on the same problem.

Problem: one 8-coil 256x256 MNI brain slice simulated without the inverse crime
(:func:`recon.simulate.brain_slice_kspace`), fastMRI-style 4x random line mask with 8 % centre,
coil maps from our ESPIRiT (shared by both sides, so the solvers see identical inputs).

- ESPIRiT: ``sigpy.mri.app.EspiritCalib`` (24x24 calibration, kernel 6, 100 power iterations) vs
  :func:`recon.coils.espirit` with the same settings; extra: worst per-pixel map correlation
  (up to a common phase) inside the object.
- CG-SENSE: ``SenseRecon`` vs :func:`recon.solvers.cg.cg_sense`, same Tikhonov weight and the same
  number of CG iterations (identical problem, identical algorithm).
- L1-wavelet: ``L1WaveletRecon`` (sigpy's default 100 iterations, its best weight from the
  tuning slices of ``experiments/eval_classical_mri.py``) vs our library defaults.
- TV: ``TotalVariationRecon`` (100 iterations, best weight on the tuning slice) vs our defaults.

Each comparison records both PSNRs (fastMRI definition against the RSS reference) as extras.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from recon.benchmarks.harness import Comparison, compare


def _psnr(target: np.ndarray, x) -> float:
    from recon.metrics import psnr

    return round(float(psnr(target[None], np.abs(np.asarray(x))[None])), 2)


def run(quick: bool = False) -> list[Comparison]:
    import sigpy.mri

    from operators.mri import random_mask, sense
    from recon.classical_mri import DEFAULTS
    from recon.coils import espirit
    from recon.simulate import brain_slice_kspace
    from recon.solvers.cg import cg_sense
    from recon.solvers.fista import fista_l1
    from recon.solvers.pdhg import tv_recon

    n = 128 if quick else 256
    rounds = 2 if quick else 3
    d = brain_slice_kspace(90, (n, n), 8, noise=0.005, key=jax.random.PRNGKey(90))
    mask = random_mask(2090, n, 0.08, 4)
    y = (d["kspace"] * mask).astype(np.complex64)
    target = d["target"]
    out: list[Comparison] = []

    # -- ESPIRiT (fully sampled calibration region of the full data, as sigpy needs 24x24)
    full = d["kspace"]
    ours_maps = {}

    def esp_ours():
        ours_maps["m"] = jax.block_until_ready(espirit(full, (24, 24)))

    ref_maps = {}

    def esp_sigpy():
        ref_maps["m"] = sigpy.mri.app.EspiritCalib(full, calib_width=24, show_pbar=False).run()

    c = compare(f"ESPIRiT {n}x{n}, 8 coils, 24x24 calibration",
                {"sigpy EspiritCalib": esp_sigpy, "engine espirit": esp_ours},
                reference="sigpy EspiritCalib", rounds=rounds)
    a, b = np.asarray(ours_maps["m"]), ref_maps["m"]
    obj = target > 0.1 * target.max()
    both = obj & (np.linalg.norm(a, axis=0) > 0) & (np.linalg.norm(b, axis=0) > 0)
    corr = np.abs(np.sum(a * b.conj(), 0))[both] / (
        np.linalg.norm(a, axis=0)[both] * np.linalg.norm(b, axis=0)[both])
    c.extra["min map correlation inside object"] = round(float(corr.min()), 5)
    out.append(c)

    maps = np.asarray(espirit(y, mask=mask))
    A = sense(maps, mask)
    res: dict[str, np.ndarray] = {}

    # -- CG-SENSE: same lam, same iterations
    lam_cg, it_cg = DEFAULTS["cg-sense"]["lam"], DEFAULTS["cg-sense"]["iters"]
    cg_fn = jax.jit(lambda A, y: cg_sense(A, y, lam=lam_cg, maxiter=it_cg).x)

    def cg_ours():
        res["cg"] = jax.block_until_ready(cg_fn(A, y))

    def cg_sigpy():
        res["cg_ref"] = sigpy.mri.app.SenseRecon(y, maps, lamda=lam_cg, weights=mask,
                                                 max_iter=it_cg, show_pbar=False).run()

    c = compare(f"CG-SENSE {n}x{n}, 8 coils, 4x, lam {lam_cg}, {it_cg} iterations",
                {"sigpy SenseRecon": cg_sigpy, "engine cg_sense": cg_ours},
                reference="sigpy SenseRecon", rounds=rounds)
    c.extra["PSNR dB (sigpy, engine)"] = (_psnr(target, res["cg_ref"]), _psnr(target, res["cg"]))
    out.append(c)

    # -- L1-wavelet: sigpy tuned weight at its default 100 iterations vs our defaults
    d_l1 = DEFAULTS["l1-wavelet"]
    l1_fn = jax.jit(lambda A, y: fista_l1(A, y, lam=d_l1["lam"], iterations=d_l1["iters"]).x)

    def l1_ours():
        res["l1"] = jax.block_until_ready(l1_fn(A, y))

    def l1_sigpy():
        res["l1_ref"] = sigpy.mri.app.L1WaveletRecon(y, maps, lamda=3e-4, weights=mask,
                                                     max_iter=100, show_pbar=False).run()

    c = compare(f"L1-wavelet {n}x{n}, 8 coils, 4x (sigpy lamda 3e-4, 100 it; engine defaults)",
                {"sigpy L1WaveletRecon": l1_sigpy, "engine fista_l1": l1_ours},
                reference="sigpy L1WaveletRecon", rounds=rounds)
    c.extra["PSNR dB (sigpy, engine)"] = (_psnr(target, res["l1_ref"]), _psnr(target, res["l1"]))
    out.append(c)

    # -- TV
    d_tv = DEFAULTS["tv"]

    def _tv(A, y):
        scale = jnp.max(jnp.abs(A.H(y)))
        return tv_recon(A, y, d_tv["lam"] * scale, iterations=d_tv["iters"])

    tv_fn = jax.jit(_tv)

    def tv_ours():
        res["tv"] = jax.block_until_ready(tv_fn(A, y))

    def tv_sigpy():
        res["tv_ref"] = sigpy.mri.app.TotalVariationRecon(y, maps, 3e-2, weights=mask,
                                                          max_iter=100, show_pbar=False).run()

    c = compare(f"TV {n}x{n}, 8 coils, 4x (sigpy lamda 3e-2, 100 it; engine defaults)",
                {"sigpy TotalVariationRecon": tv_sigpy, "engine pdhg_tv": tv_ours},
                reference="sigpy TotalVariationRecon", rounds=rounds)
    c.extra["PSNR dB (sigpy, engine)"] = (_psnr(target, res["tv_ref"]), _psnr(target, res["tv"]))
    out.append(c)
    return out
