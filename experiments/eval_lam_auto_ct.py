"""``recon ct --method tv --lam auto`` against the oracle weight (issue 16, item 4).

Data: the dival ellipses protocol of ``experiments/eval_diffusion.py ct`` (held-out ellipse
images of 128², projected from a 2x finer grid, 30 parallel views, 183 bins, white Gaussian noise
of 2.5 % of the mean |y|): test images ``ct_data(n, 0)``; ``--offset 1`` gives the validation
images on which :data:`recon.ct.classical.SCHEME` was chosen (never the test images).

Per image: PSNR (dival's definition) of the default weight (0.1), of ``--lam auto`` (the weight
chosen by :func:`recon.ct.classical.validated_tv` with the noise std estimated from the sinogram,
as ``recon ct`` does, then TV on all the data) and of the oracle (best of ``0.1 x 2^k``,
k = -4..4, refined at ``2^(±1/2)`` around the best, scored against the truth). Target:
mean(oracle - auto) <= 0.3 dB.

    python -m experiments.eval_lam_auto_ct --images 10 [--noise 0.025] [--scheme views:1:0.2 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=10)
    p.add_argument("--offset", type=int, default=0, help="0: test images, 1: validation")
    p.add_argument("--scheme", action="append", default=None, metavar="KIND:FOLDS:FRACTION",
                   help="split scheme(s) to compare, KIND bins or views (default: "
                        "recon.ct.classical.SCHEME); e.g. --scheme bins:1:0.2 --scheme views:1:0.2")
    p.add_argument("--noise", type=float, default=0.025, help="noise std / mean |y| (0.025)")
    p.add_argument("--json", default=None, help="write the per-image rows here")
    args = p.parse_args(argv)

    import jax.numpy as jnp

    from experiments.eval_diffusion import ct_data
    from models.data.ellipses import EllipsesSource
    from operators.ct import parallel_beam
    from recon.ct import classical
    from recon.ct.noise_estimate import estimate_sinogram_noise
    from recon.measurement_split import Scheme
    from recon.metrics import dival_psnr

    schemes = [classical.SCHEME] if not args.scheme else [
        Scheme(lines=k == "views", folds=int(f), fraction=float(r))
        for k, f, r in (s.split(":") for s in args.scheme)]
    truth, sino, true_std, angles = ct_data(args.images, args.offset,
                                            EllipsesSource().heldout_seed, args.noise)
    A = parallel_beam((128, 128), angles, 183)
    ns = len(truth)
    solve = classical.tv_grid_solver(classical.DEFAULT_ITERS["tv"])
    ones = jnp.ones(A.out_shape, jnp.float32)
    cache: dict[tuple[int, float], float] = {}

    def psnrs(lams: np.ndarray) -> np.ndarray:
        """PSNR per image (rows) and weight (columns), each solved once."""
        need = [(i, float(v)) for i in range(ns) for v in lams[i] if (i, float(v)) not in cache]
        if need:
            width = max(sum(1 for i2, _ in need if i2 == i) for i in range(ns))
            grid = np.array([[v for i2, v in need if i2 == i] for i in range(ns)], dtype=object)
            table = np.ones((ns, width), np.float32)
            for i in range(ns):
                row = list(grid[i]) + [classical.DEFAULT_TV_LAM] * (width - len(grid[i]))
                table[i] = row
            xs = np.asarray(solve(A, jnp.asarray(sino), jnp.asarray(table), ones))
            for i in range(ns):
                for j, v in enumerate(grid[i]):
                    cache[(i, float(v))] = dival_psnr(truth[i], xs[i, j])
        return np.array([[cache[(i, float(v))] for v in lams[i]] for i in range(ns)])

    t0 = time.perf_counter()
    grid = classical.DEFAULT_TV_LAM * 2.0 ** np.arange(-4, 5)
    p_grid = psnrs(np.tile(grid, (ns, 1)))
    best = grid[np.argmax(p_grid, axis=1)]
    p_fine = psnrs(best[:, None] * 2.0 ** np.array([-0.5, 0.5])[None])
    oracle_lam = np.where(p_fine.max(1) > p_grid.max(1),
                          best * 2.0 ** np.array([-0.5, 0.5])[np.argmax(p_fine, 1)], best)
    oracle = np.maximum(p_grid.max(1), p_fine.max(1))
    t_oracle = time.perf_counter() - t0
    est = np.array([estimate_sinogram_noise(s).std for s in sino])
    default = psnrs(np.full((ns, 1), classical.DEFAULT_TV_LAM))[:, 0]
    results = []
    for scheme in schemes:
        classical.SCHEME = scheme
        t0 = time.perf_counter()
        rec = classical.validated_tv(A, sino, est)
        t_auto = time.perf_counter() - t0
        auto = psnrs(rec["lam"][:, None])[:, 0]
        rows = []
        print(f"\n{scheme}; images offset {args.offset}, noise {args.noise:g} x mean |y|")
        print("| image | noise std est/true | oracle lam | oracle dB | auto lam | auto dB | "
              "default dB | oracle - auto dB | decided |")
        print("|---|---|---|---|---|---|---|---|---|")
        for i in range(ns):
            rows.append({"image": i, "noise_est": float(est[i]),
                         "noise_true": float(true_std[i]), "oracle_lam": float(oracle_lam[i]),
                         "oracle": float(oracle[i]), "auto_lam": float(rec["lam"][i]),
                         "auto": float(auto[i]), "default": float(default[i]),
                         "decided": bool(rec["decided"][i]),
                         "residuals": rec["heldout_residual"][i].tolist(),
                         "candidates": rec["candidates"][i].tolist(),
                         "floor": float(rec["noise_floor"][i])})
            print(f"| {i} | {est[i] / true_std[i]:.3f} | {oracle_lam[i]:.4g} | {oracle[i]:.2f} | "
                  f"{rec['lam'][i]:.4g} | {auto[i]:.2f} | {default[i]:.2f} | "
                  f"{oracle[i] - auto[i]:.2f} | {bool(rec['decided'][i])} |")
        gap = oracle - auto
        print(f"mean oracle - auto {gap.mean():.3f} dB, max {gap.max():.3f} dB; mean oracle - "
              f"default {(oracle - default).mean():.3f} dB; auto validation {t_auto:.0f} s for "
              f"{ns} images, oracle grid {t_oracle:.0f} s")
        results.append({"scheme": dataclasses.asdict(scheme), "rows": rows,
                        "mean_gap_db": float(gap.mean()), "max_gap_db": float(gap.max())})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"offset": args.offset, "noise": args.noise, "images": ns,
                       "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
