"""Held-out MRI and CT test problems, each simulated with and without inserted lesions.

No inverse crime: the measurements come from a 2x finer grid than the reconstruction grid, and
lesions are drawn analytically on both grids (:func:`recon.evaluation.lesions.lesion_image`).
The lesion and lesion-free measurements of an image have independent noise.

- MRI (as :mod:`recon.demo` and ``experiments/eval_diffusion.py``): magnitudes of the held-out
  axial planes of :func:`models.data.brain.heldout_slices` (never read by the ``mri-brain``
  prior's training crops), resampled to ``size`` if asked, maximum 1, a smooth phase, interpolated
  to the 2x grid, 8 analytic birdcage coils, k-space truncated to the target matrix, complex noise
  0.5 % of the maximum (:func:`recon.simulate.simulate_multicoil`), a fastMRI-style 1D random mask
  at 4x with an 8 % centre (at least 8 lines, for ESPIRiT's calibration on small test images);
  coil maps estimated by ESPIRiT from each data set, as a user would.
- CT (the dival ``ellipses`` protocol): held-out ellipse images (a key domain the ``ct-ellipses``
  prior never saw), 30 parallel-beam angles over 180 degrees, ``ceil(sqrt(2) size) + 2`` detector
  bins (183 at 128), projected from the 2x grid, Gaussian noise 2.5 % of the mean absolute
  sinogram value.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from recon.evaluation.lesions import LesionSet, lesion_image, place_lesions


@dataclasses.dataclass
class Measurement:
    """One simulated acquisition: operator ``A``, data ``y``, the real ground truth ``truth``
    on the target grid, and modality extras (MRI: ``kspace`` and ``mask``)."""

    A: Any
    y: jax.Array
    truth: np.ndarray
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Case:
    """A held-out image with its lesions, measured with (``present``) and without (``absent``)."""

    present: Measurement
    absent: Measurement
    lesions: LesionSet


@dataclasses.dataclass
class Problem:
    modality: str
    cases: list[Case]
    noise_std: float  # per real component, data units
    description: str


def _check(n_images: int, n_lesions: int, contrast: float) -> None:
    if int(n_images) < 1:
        raise ValueError(f"need at least 1 test image, got {n_images}")
    if int(n_lesions) < 1:
        raise ValueError(f"need at least 1 lesion per image, got {n_lesions}")
    if not 0 < contrast < 1:
        raise ValueError(f"lesion contrast must be in (0, 1), got {contrast}")


def mri_truths(n_images: int, size: tuple[int, int] | None = None, seed: int = 0) -> np.ndarray:
    """Held-out brain magnitudes ``(n, H, W)`` float32, maximum 1 each."""
    from scipy import ndimage

    from models.data.brain import heldout_slices

    planes = np.abs(np.asarray(heldout_slices(n_images, jax.random.key(seed))))
    out = []
    for p in planes:
        if size is not None and tuple(size) != p.shape:
            p = ndimage.zoom(p, (size[0] / p.shape[0], size[1] / p.shape[1]), order=3)
        p = np.clip(p, 0, None)
        out.append(p / max(float(p.max()), 1e-12))
    return np.asarray(out, np.float32)


def mri_problem(n_images: int = 4, size: tuple[int, int] | None = None, seed: int = 0,
                n_lesions: int = 4, contrast: float = 0.05, sigma: float | None = None,
                acceleration: int = 4, noise: float = 0.005) -> Problem:
    """MRI test problem (module doc). ``sigma`` (lesion width, pixels) defaults to ``H / 96``
    (2 px at 192 rows, at least 1)."""
    from scipy import ndimage

    from operators.mri import random_mask, sense
    from recon.coils.espirit import espirit
    from recon.simulate import simulate_multicoil, smooth_phase

    _check(n_images, n_lesions, contrast)
    truths = mri_truths(n_images, size, seed)
    h, w = truths.shape[1:]
    sigma = max(h / 96.0, 1.0) if sigma is None else float(sigma)
    rng = np.random.default_rng(seed)
    centre = max(0.08, 8.0 / w)  # ESPIRiT's 6x6 kernel needs >= 7 calibration lines
    cases = []
    noise_std = 0.0
    for i, mag in enumerate(truths):
        lesions = place_lesions(mag, n_lesions, sigma, contrast, rng)
        fine = np.clip(ndimage.zoom(mag, 2, order=3), 0, None)
        phase = smooth_phase(fine.shape)
        mask = random_mask(1000 * seed + i, w, center_fractions=centre,
                           accelerations=acceleration)
        pair = []
        for j, img in enumerate((fine + lesion_image(fine.shape, lesions, 2.0, 0.0), fine)):
            key = jax.random.PRNGKey(10_000 * seed + 2 * i + j)
            sim = simulate_multicoil((img * phase).astype(np.complex64), (h, w), 8, noise, key)
            ksp = jnp.asarray(sim["kspace"] * mask)
            maps = espirit(ksp, mask=mask)
            A = sense(maps, jnp.asarray(mask, jnp.float32))
            pair.append(Measurement(A, ksp, np.asarray(sim["target"], np.float32),
                                    {"mask": mask}))
            noise_std = float(sim["noise_std"]) / np.sqrt(2)
        cases.append(Case(pair[0], pair[1], lesions))
    desc = (f"held-out brain planes {h}x{w}, 8 coils, {acceleration}x fastMRI random mask "
            f"({100 * centre:.0f} % centre), noise {100 * noise:g} % of max; "
            f"{n_lesions} lesions/image, "
            f"sigma {sigma:g} px, contrast {100 * contrast:g} %")
    return Problem("mri", cases, noise_std, desc)


def ct_problem(n_images: int = 4, size: int = 128, seed: int = 0, n_lesions: int = 4,
               contrast: float = 0.05, sigma: float | None = None, n_angles: int = 30,
               noise: float = 0.025) -> Problem:
    """CT test problem (module doc). ``sigma`` defaults to ``size / 64`` (2 px at 128)."""
    from models.data.ellipses import EllipsesSource, ellipse_images
    from operators.ct import parallel_beam
    from recon.ct.noise import gaussian

    _check(n_images, n_lesions, contrast)
    if int(size) < 16:
        raise ValueError(f"CT image size must be >= 16, got {size}")
    sigma = max(size / 64.0, 1.0) if sigma is None else float(sigma)
    n_det = int(np.ceil(np.sqrt(2) * size)) + 2
    key = jax.random.fold_in(jax.random.key(EllipsesSource().heldout_seed), seed)
    truths = np.asarray(ellipse_images(key, n_images, size), np.float64)
    fines = np.asarray(ellipse_images(key, n_images, 2 * size), np.float64)
    angles = np.linspace(0, np.pi, n_angles, endpoint=False)
    A_fine = parallel_beam((2 * size, 2 * size), angles, n_det, pixel_size=0.5)
    A = parallel_beam((size, size), angles, n_det)
    rng = np.random.default_rng(seed)
    cases, stds = [], []
    for i, (truth, fine) in enumerate(zip(truths, fines, strict=True)):
        lesions = place_lesions(truth, n_lesions, sigma, contrast, rng)
        pair = []
        for j, present in enumerate((True, False)):
            t = truth + lesion_image(truth.shape, lesions) if present else truth
            f = fine + lesion_image(fine.shape, lesions, 2.0, 0.5) if present else fine
            clean = A_fine(jnp.asarray(f, jnp.float32))
            k = jax.random.PRNGKey(10_000 * seed + 2 * i + j + 1)
            sino = gaussian(k, clean, noise, relative=True)
            stds.append(noise * float(jnp.mean(jnp.abs(clean))))
            pair.append(Measurement(A, sino, np.asarray(t, np.float32)))
        cases.append(Case(pair[0], pair[1], lesions))
    desc = (f"held-out ellipses {size}x{size}, {n_angles} parallel-beam views, {n_det} bins, "
            f"{100 * noise:g} % noise; {n_lesions} lesions/image, sigma {sigma:g} px, "
            f"contrast {100 * contrast:g} %")
    return Problem("ct", cases, float(np.mean(stds)), desc)
