"""The offline demonstration behind ``recon demo``: one MRI and one CT reconstruction problem,
each solved by the baseline, the best classical method and diffusion (DDS, posterior samples).

MRI: the shipped held-out brain slice (``recon/data/demo_brain_t1.npz``) with a smooth phase,
interpolated to a 2x finer grid, 8 analytic birdcage coils, k-space truncated to the target
matrix with complex noise (:func:`recon.simulate.simulate_multicoil`: no inverse crime), a
fastMRI-style 1D random mask at 4x with an 8 % centre, coil maps estimated by ESPIRiT from the
data. Methods: zero-filled RSS, L1-wavelet (FISTA), DDS with the ``mri-brain`` prior.

CT: a held-out dival-style ellipse image (128x128, a key domain training never used), projected
on a 2x finer grid, 30 angles over 180 degrees, 183 detector bins, 2.5 % Gaussian noise (the dival
``ellipses`` protocol). Methods: FBP (Hann, frequency scaling 0.65), TV (PDHG, non-negative,
weight 2, 300 iterations; both tuned on separate held-out images), DDS with the
``ct-ellipses`` prior.

Metrics: fastMRI's NMSE/PSNR/SSIM (MRI, data range = target max) and dival's per-image PSNR/SSIM
(CT, data range = target max - min). Seconds are wall time of each call including JIT
compilation, as a user experiences them.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from recon import interrupts
from recon.report import Section, image_grid


@dataclasses.dataclass
class MethodResult:
    name: str
    image: np.ndarray
    seconds: float
    std: np.ndarray | None = None


def timed(name: str, fn: Callable[[], object]) -> MethodResult:
    t0 = time.perf_counter()
    out = fn()
    interrupts.check()  # between the jitted methods of the demo
    if isinstance(out, tuple):
        image, std = out
        image, std = np.asarray(image), np.asarray(std)
    else:
        image, std = np.asarray(out), None
    return MethodResult(name, image, time.perf_counter() - t0, std)


def demo_brain_slice() -> np.ndarray:
    """The shipped held-out T1 slice (192x224, float32, max 1)."""
    with np.load(pathlib.Path(__file__).parent / "data" / "demo_brain_t1.npz") as f:
        return f["image"].astype(np.float32)


def magnitude(image: np.ndarray) -> np.ndarray:
    """Magnitude of complex (MRI) images; real (CT) images are returned as they are."""
    return np.abs(image) if np.iscomplexobj(image) else image


def _section(title: str, truth: np.ndarray, results: list[MethodResult], metric_fn,
             commands: str) -> Section:
    rows = []
    for r in results:
        rows.append({"method": r.name, **metric_fn(truth, magnitude(r.image)),
                     "seconds": round(r.seconds, 2)})
    vmax = float(truth.max())
    panels = [("truth", truth)] + [(r.name, magnitude(r.image)) for r in results]
    cmaps = ["gray"] * len(panels)
    panels += [(f"|error| {r.name}", np.abs(magnitude(r.image) - truth)) for r in results]
    cmaps += ["magma"] * len(results)
    stds = [r for r in results if r.std is not None]
    panels += [(f"posterior std {r.name}", r.std) for r in stds]
    cmaps += ["viridis"] * len(stds)
    figure = image_grid(panels, columns=len(results) + 1, vmax=vmax, cmaps=cmaps)
    return Section(title, rows, [figure], [commands])


def mri_case(nfe: int = 30, n_samples: int = 4, seed: int = 0) -> Section:
    from scipy import ndimage

    from models import load_prior
    from operators.fft import ifftc
    from operators.mri import random_mask, sense
    from recon.coils.espirit import espirit
    from recon.diffusion.posterior import DiffusionConfig
    from recon.metrics import fastmri_metrics
    from recon.simulate import simulate_multicoil, smooth_phase
    from recon.slice_methods import coil_support, l1_warm_started_reconstruct
    from recon.solvers.fista import fista_l1

    image = demo_brain_slice()
    fine = np.clip(ndimage.zoom(image, 2, order=3), 0, None)
    fine = fine * smooth_phase(fine.shape)
    sim = simulate_multicoil(fine, image.shape, num_coils=8, noise=0.005,
                             key=jax.random.PRNGKey(seed))
    truth = sim["target"]
    mask = random_mask(seed, image.shape[1], center_fractions=0.08, accelerations=4)
    ksp = jnp.asarray(sim["kspace"] * mask)
    maps = espirit(ksp, mask=mask)
    A = sense(maps, jnp.asarray(mask, jnp.float32))
    prior = load_prior("mri-brain")
    cfg = DiffusionConfig(method="dds", nfe=nfe, n_samples=n_samples,
                          noise_std=float(sim["noise_std"]) / np.sqrt(2))
    results = [
        timed("zero-filled", lambda: jnp.sqrt(jnp.sum(jnp.abs(ifftc(ksp, (-2, -1))) ** 2, 0))),
        timed("l1-wavelet", lambda: fista_l1(A, ksp).x),
        # as `recon mri --method dds`: warm-started from L1-wavelet (its time included)
        timed(f"dds ({nfe} NFE, {n_samples} samples)", lambda: tuple(
            v * coil_support(maps) for v in l1_warm_started_reconstruct(
                prior, A, ksp, cfg, jax.random.PRNGKey(seed)))),
    ]
    return _section(
        "MRI: brain slice 192x224, 8 coils, 4x fastMRI random mask (8 % centre)",
        truth, results, lambda t, p: fastmri_metrics(t[None], p[None]),
        f"recon demo --seed {seed} --nfe {nfe} --samples {n_samples}",
    )


def ct_case(nfe: int = 30, n_samples: int = 4, seed: int = 0) -> Section:
    from models import load_prior
    from models.data.ellipses import EllipsesSource, ellipse_images
    from operators.ct import parallel_beam
    from recon.ct.fbp import fbp
    from recon.ct.noise import gaussian
    from recon.diffusion.posterior import DiffusionConfig, reconstruct
    from recon.metrics import dival_psnr, dival_ssim
    from recon.solvers.pdhg import tv_recon

    size, n_angles, n_det = 128, 30, 183
    key = jax.random.fold_in(jax.random.key(EllipsesSource().heldout_seed), seed)
    truth = np.asarray(ellipse_images(key, 1, size)[0])
    fine = ellipse_images(key, 1, 2 * size)[0]
    angles = np.linspace(0, np.pi, n_angles, endpoint=False)
    A_fine = parallel_beam((2 * size, 2 * size), angles, n_det, pixel_size=0.5)
    clean = A_fine(fine)
    sino = gaussian(jax.random.PRNGKey(seed + 1), clean, 0.025, relative=True)
    noise_std = 0.025 * float(jnp.mean(jnp.abs(clean)))
    A = parallel_beam((size, size), angles, n_det)
    prior = load_prior("ct-ellipses")
    cfg = DiffusionConfig(method="dds", nfe=nfe, n_samples=n_samples, noise_std=noise_std)
    results = [
        timed("fbp (hann)", lambda: fbp(A, sino, filter="hann", frequency_scaling=0.65)),
        timed("tv (pdhg)", lambda: tv_recon(A, sino, lam=2.0, iterations=300, nonneg=True)),
        timed(f"dds ({nfe} NFE, {n_samples} samples)", lambda: reconstruct(
            prior, A, sino, cfg, jax.random.PRNGKey(seed),
            prior_var=prior.config.sigma_data**2)),
    ]

    def metrics(t, p):
        return {"PSNR": dival_psnr(t, p), "SSIM": dival_ssim(t, p)}

    return _section(
        "CT: ellipses 128x128, 30 parallel-beam views, 183 bins, 2.5 % noise",
        truth, results, metrics, f"recon demo --seed {seed} --nfe {nfe} --samples {n_samples}",
    )
