"""Accuracy of :func:`recon.ct.noise_estimate.estimate_sinogram_noise` (issue 16, item 3).

No inverse crime: dival-style ellipse images and the Shepp-Logan phantom are rasterised on a 2x
finer grid (256², pixel 0.5) and projected there: parallel beam (30 views over 180°, 183 bins,
the dival protocol of ``experiments/eval_diffusion.py ct``) and fan beam (60 views over 360°,
300 flat-detector bins of 1.2, source and detector 300 from the centre). White Gaussian noise of
``level x mean |y|`` is added; the table gives the mean and worst relative error of the estimate
over phantoms, geometries and noise draws per level.

    python -m experiments.eval_noise_estimate [--images 4] [--draws 2]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

LEVELS = (0.005, 0.01, 0.025, 0.05, 0.1)


def clean_sinograms(n_ellipses: int, seed: int = 5) -> dict[str, list[np.ndarray]]:
    from models.data.ellipses import ellipse_images
    from operators.ct import fan_beam, parallel_beam
    from recon.ct.phantom import shepp_logan

    fine = list(np.asarray(ellipse_images(jax.random.key(seed), n_ellipses, 256)))
    fine.append(shepp_logan((256, 256), supersample=2).astype(np.float32))
    geoms = {
        "parallel": parallel_beam((256, 256), np.linspace(0, np.pi, 30, endpoint=False), 183,
                                  pixel_size=0.5),
        "fan": fan_beam((256, 256), np.linspace(0, 2 * np.pi, 60, endpoint=False), 300,
                        300.0, 300.0, det_spacing=1.2, pixel_size=0.5),
    }
    return {g: [np.asarray(A(jnp.asarray(im)), np.float64) for im in fine]
            for g, A in geoms.items()}


def main(argv=None) -> None:
    from recon.ct.noise_estimate import estimate_sinogram_noise

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=4, help="ellipse images (plus Shepp-Logan)")
    p.add_argument("--draws", type=int, default=2, help="noise draws per case")
    args = p.parse_args(argv)
    sinos = clean_sinograms(args.images)
    print("| noise (x mean |y|) | mean estimate / true | mean rel. error | max |rel. error| "
          "| cases |")
    print("|---|---|---|---|---|")
    for level in LEVELS:
        errs = []
        for g, clean_list in sinos.items():
            for i, clean in enumerate(clean_list):
                for d in range(args.draws):
                    s = level * np.mean(np.abs(clean))
                    rng = np.random.default_rng([i, d, int(level * 1e4), g == "fan"])
                    est = estimate_sinogram_noise(clean + s * rng.standard_normal(clean.shape))
                    errs.append(est.std / s - 1)
        e = np.asarray(errs)
        print(f"| {100 * level:g} % | {1 + e.mean():.3f} | {100 * e.mean():+.1f} % | "
              f"{100 * np.abs(e).max():.1f} % | {e.size} |")


if __name__ == "__main__":
    main()
