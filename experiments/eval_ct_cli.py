"""``recon ct`` as a user runs it, on the dival ellipses protocol: DDS without ``--noise-std``
against TV, per image (issue 16's CT target: mean PSNR >= TV's, no image more than 1 dB below
its TV).

Data: the test images of ``experiments/eval_diffusion.py ct`` (:func:`~experiments.
eval_diffusion.ct_data`: held-out ellipse images projected on a 2x finer grid, 30 angles, 183
bins, white noise of ``--noise`` times the mean absolute sinogram value, no inverse crime),
written to one CT HDF5 file. Every method runs through ``recon ct`` itself
(:func:`recon.cli.main`, in this process, so the priors and compiled programs are shared);
nothing is passed that a user would not know: no noise level, the default TV weight (chosen on
this protocol's validation images, BENCHMARKS.md) and the CLI's diffusion defaults. dival's
per-image PSNR (data range of each truth).

    taskset -c 0 python -m experiments.eval_ct_cli --images 20 --json experiments/ct_cli.json
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

import h5py
import numpy as np

#: ``recon ct`` runs compared: name -> extra command-line words
RUNS = {
    "tv": ["--method", "tv"],
    "dds": ["--method", "dds"],  # validated (the default)
    "dds --validate off": ["--method", "dds", "--validate", "off"],
}


def main(argv: list[str] | None = None) -> dict:
    from experiments.eval_diffusion import ct_data
    from models.data.ellipses import EllipsesSource
    from recon.cli import main as recon
    from recon.io.ct_format import CTData, write_ct
    from recon.metrics import dival_psnr, dival_ssim

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--noise", type=float, default=0.025)
    p.add_argument("--runs", nargs="+", default=list(RUNS), choices=tuple(RUNS))
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)

    truth, sino, noise_std, angles = ct_data(a.images, 0, EllipsesSource().heldout_seed,
                                             a.noise)
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "sino.h5"
        write_ct(src, CTData(sinogram=sino, angles=angles, geometry="parallel",
                             image_shape=(128, 128)))
        for name in a.runs:
            out = pathlib.Path(tmp) / f"{name}.h5"
            t0 = time.perf_counter()
            rc = recon(["-q", "ct", str(src), "--out", str(out), *RUNS[name]])
            seconds = time.perf_counter() - t0
            if rc != 0:
                raise SystemExit(f"recon ct {' '.join(RUNS[name])} exited {rc}")
            with h5py.File(out, "r") as f:
                rec = f["reconstruction"][()]
                extra = {k: f[k][()].tolist() for k in ("noise_std_estimate",) if k in f}
                if "validation" in f:
                    extra["validation"] = {
                        k: [x.decode() if isinstance(x, bytes) else x
                            for x in np.asarray(v[()]).reshape(-1).tolist()]
                        for k, v in f["validation"].items()}
            rows[name] = {
                "psnr": [float(dival_psnr(t, r)) for t, r in zip(truth, rec, strict=True)],
                "ssim": [float(dival_ssim(t, r)) for t, r in zip(truth, rec, strict=True)],
                "s_per_image": seconds / len(truth), **extra,
            }
            print(f"{name}: PSNR {np.mean(rows[name]['psnr']):.2f} dB, SSIM "
                  f"{np.mean(rows[name]['ssim']):.3f}, {seconds / len(truth):.1f} s/image",
                  flush=True)
    summary = {name: {"mean_psnr": float(np.mean(r["psnr"])),
                      "mean_ssim": float(np.mean(r["ssim"])),
                      "s_per_image": r["s_per_image"]} for name, r in rows.items()}
    if "tv" in rows:
        for name, r in rows.items():
            gap = np.asarray(r["psnr"]) - np.asarray(rows["tv"]["psnr"])
            summary[name].update({"mean_minus_tv_db": float(gap.mean()),
                                  "worst_minus_tv_db": float(gap.min()),
                                  "images_below_tv_by_1db": int(np.sum(gap < -1.0))})
    if "noise_std_estimate" in rows.get("dds", {}):
        est = np.asarray(rows["dds"]["noise_std_estimate"], np.float64).reshape(-1)
        summary["noise_estimate_rel_error"] = {
            "mean": float(np.mean(est / noise_std - 1)),
            "max_abs": float(np.max(np.abs(est / noise_std - 1)))}
    result = {"images": a.images, "noise": a.noise, "true_noise_std": noise_std.tolist(),
              "rows": rows, "summary": summary}
    if "validation" in rows.get("dds", {}):
        summary["dds"]["choices"] = {c: rows["dds"]["validation"]["choice"].count(c)
                                     for c in dict.fromkeys(rows["dds"]["validation"]["choice"])}
    print(json.dumps(summary, indent=1))
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
