"""``--lam auto`` (measurement-split validation) against the oracle weight and the defaults.

Data (none of it used to choose :data:`recon.measurement_split.SCHEMES`, which was set on the
``--set tuning`` slices):

- real brain slices from three sources, simulated as in ``experiments/eval_diffusion.py``
  (8 coils, 0.5 % noise, 2x finer grid, no inverse crime): dipy's S0 EPI slices 5 and 6, two
  held-out MNI template planes, and Colin27's test planes z = 85 and 55 (added 2026-12-07,
  after the schemes were tuned: slices no choice has seen);
- a noisy phantom made with BART: ``bart phantom -k -s 8 -x N`` (analytic Shepp-Logan k-space,
  8 coils), complex white noise of ``--phantom-noise`` times the k-space RMS added.

``--set tuning``: the slices the schemes were chosen on instead (dipy's T1 slice and S0 slices
3-4, Colin27's validation planes z = 62 and 108).

Masks: fastMRI 1-D random masks, 4x (8 % centre) and 8x (4 % centre). Per slice, method and
acceleration: PSNR (fastMRI definition) of the default weight, of ``--lam auto``, and of the
oracle (best of ``default x 2^k``, k = -4..8, scored against the truth); the run time of auto
and default. Target: mean(oracle - auto) <= 0.3 dB per method.

    taskset -c 0 python -m experiments.eval_lam_auto --json experiments/lam_auto.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import tempfile
import time

import numpy as np


def bart_phantom(n: int, noise: float, seed: int) -> dict:
    """8-coil analytic Shepp-Logan k-space from BART, target = RSS of its noise-free images."""
    from experiments.bench_vs_bart import read_cfl

    with tempfile.TemporaryDirectory() as tmp:
        stem = pathlib.Path(tmp) / "k"
        subprocess.run(["bart", "phantom", "-k", "-s", "8", "-x", str(n), str(stem)],
                       check=True, capture_output=True)
        k = np.transpose(read_cfl(stem).reshape(n, n, 8), (2, 0, 1))  # (C, H, W)
    # BART's k-space has its DC at n/2 like fastMRI's centred layout; images by the orthonormal
    # centred inverse FFT
    img = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"),
                          axes=(-2, -1))
    target = np.sqrt(np.sum(np.abs(img) ** 2, axis=0)).astype(np.float32)
    rng = np.random.default_rng(seed)
    sigma = noise * np.sqrt(np.mean(np.abs(k) ** 2))
    k = k + sigma * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape))
    return {"kspace_full": k.astype(np.complex64), "target": target}


def cases(accel: int, phantom_noise: float, which: str = "report") -> list[tuple[str, dict]]:
    from experiments.eval_diffusion import colin27_planes, mri_data, real_planes, template_planes
    from models.data.brain import HOLDOUT_Z0
    from operators.mri import random_mask

    if which == "tuning":
        dipy = real_planes()["test"][0:3]  # T1, S0 3, S0 4
        out = [(name, d) for name, d in zip(("dipy T1", "dipy S0 3", "dipy S0 4"),
                                            mri_data(dipy, accel, seed=3), strict=True)]
        return out + [(f"Colin27 z{z}", d) for z, d in zip(
            (62, 108), mri_data(colin27_planes()["val"], accel, seed=5), strict=True)]
    s0 = real_planes()["test"][3:5]  # S0 slices 5 and 6
    template = template_planes([HOLDOUT_Z0 + 4, HOLDOUT_Z0 + 8])
    out = [(f"dipy S0 {5 + i}", d) for i, d in enumerate(mri_data(s0, accel, seed=3))]
    out += [(f"MNI z{HOLDOUT_Z0 + 4 * (i + 1)}", d)
            for i, d in enumerate(mri_data(template, accel, seed=4))]
    ph = bart_phantom(192, phantom_noise, seed=accel)
    mask = random_mask(77 + accel, 192, {4: 0.08, 8: 0.04}[accel], accel)
    out.append(("BART phantom", {"kspace": ph["kspace_full"] * mask, "mask": mask,
                                 "target": ph["target"]}))
    out += [(f"Colin27 z{z}", d) for z, d in zip(
        (85, 55), mri_data(colin27_planes()["test"][:2], accel, seed=6), strict=True)]
    return out


def weight_sweep(kspace: np.ndarray, mask: np.ndarray, method: str, lams) -> np.ndarray:
    """Magnitude images ``(G, H, W)`` of one slice ``(1, C, H, W)`` for every weight in
    ``lams``, in one compiled, vmapped solve (the oracle's grid; ``reconstruct`` would compile
    one program per weight)."""
    import jax.numpy as jnp

    from recon.classical_mri import DEFAULTS, _as_mask, _grid_solver
    from recon.coils.espirit import espirit
    from recon.sampling import calibration_region

    _, nc, h, w = kspace.shape
    region, kernel = calibration_region(mask, (h, w), nc)
    kb = jnp.asarray(kspace, jnp.complex64)
    maps = espirit(kb, calib_shape=region, kernel_width=kernel)
    mask = _as_mask(mask, h, w)
    full = np.broadcast_to(mask if mask.ndim == 2 else mask[None], (h, w))
    xs = _grid_solver(method, DEFAULTS[method]["iters"])(
        kb, maps, jnp.asarray(np.asarray(lams, np.float32)[None]), jnp.asarray(full))
    return np.abs(np.asarray(xs[0]))


def main(argv: list[str] | None = None) -> dict:
    from recon.classical_mri import DEFAULTS, reconstruct
    from recon.metrics import psnr

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", nargs="+", default=["cg-sense", "l1-wavelet", "tv"])
    p.add_argument("--accel", nargs="+", type=int, default=[4, 8])
    p.add_argument("--phantom-noise", type=float, default=0.5)
    p.add_argument("--slices", nargs="+", default=None,
                   help="only the cases whose name contains one of these words (e.g. phantom)")
    p.add_argument("--set", choices=("report", "tuning"), default="report",
                   help="the report slices (default) or those the schemes were tuned on")
    p.add_argument("--json", default=None)
    p.add_argument("--merge", action="store_true",
                   help="keep the rows of an existing --json file that this run does not redo")
    a = p.parse_args(argv)
    rows = []
    for accel in a.accel:
        for name, d in cases(accel, a.phantom_noise, a.set):
            if a.slices and not any(word in name for word in a.slices):
                continue
            k, mask, target = d["kspace"][None], d["mask"], d["target"][None]
            zf = psnr(target, reconstruct(k, mask, "zero-filled"))
            for method in a.methods:
                default = DEFAULTS[method]["lam"]
                grid = default * 2.0 ** np.arange(-4, 9)
                scores = [psnr(target, x[None]) for x in weight_sweep(k, mask, method, grid)]
                reconstruct(k, mask, method)  # compiled before it is timed
                t0 = time.perf_counter()
                x_def = reconstruct(k, mask, method)
                t_def = time.perf_counter() - t0
                rec: dict = {}
                t0 = time.perf_counter()
                x_auto = reconstruct(k, mask, method, lam="auto", record=rec)
                t_auto = time.perf_counter() - t0
                row = {"accel": accel, "slice": name, "method": method,
                       "psnr_zero_filled": zf, "psnr_default": psnr(target, x_def),
                       "psnr_auto": psnr(target, x_auto), "psnr_oracle": max(scores),
                       "lam_auto": float(rec["lam"][0]), "decided": bool(rec["decided"][0]),
                       "lam_oracle": float(grid[int(np.argmax(scores))]),
                       "s_default": t_def, "s_auto": t_auto}
                rows.append(row)
                print(json.dumps(row), flush=True)
    if a.merge and a.json and pathlib.Path(a.json).exists():
        done = {(r["accel"], r["slice"], r["method"]) for r in rows}
        old = json.loads(pathlib.Path(a.json).read_text())["rows"]
        rows = [r for r in old if (r["accel"], r["slice"], r["method"]) not in done] + rows
    summary = {}
    for method in dict.fromkeys(r["method"] for r in rows):  # merged rows included
        mine = [r for r in rows if r["method"] == method]
        summary[method] = {
            "mean_gap_oracle_minus_auto_db": float(np.mean(
                [r["psnr_oracle"] - r["psnr_auto"] for r in mine])),
            "max_gap_db": float(np.max([r["psnr_oracle"] - r["psnr_auto"] for r in mine])),
            "mean_gap_oracle_minus_default_db": float(np.mean(
                [r["psnr_oracle"] - r["psnr_default"] for r in mine])),
            "median_time_ratio_auto_over_default": float(np.median(
                [r["s_auto"] / r["s_default"] for r in mine])),
        }
    result = {"rows": rows, "summary": summary}
    print(json.dumps(summary, indent=1))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
