"""Multi-coil k-space simulation without the inverse crime (for tests and evaluation).

The inverse crime (Guerquin-Kern et al., "Realistic analytical phantoms for parallel magnetic
resonance imaging", IEEE TMI 31:626, 2012) is to simulate data with the very discretisation that
reconstructs it. Here:

1. the object is defined on a grid ``oversample`` times finer than the target matrix (an MNI
   template slice or the Shepp-Logan phantom interpolated with cubic splines, with a smooth
   background phase);
2. the coil sensitivities are analytic (``sigpy.mri.birdcage_maps``, a Biot-Savart model of a
   birdcage coil) evaluated on that fine grid, not the smooth maps a solver would estimate;
3. the fine-grid coil images are Fourier transformed (centred, orthonormal) and the central
   ``H x W`` block of k-space is kept, scaled by ``sqrt(HW / (H_f W_f))`` so that intensities are on
   the target grid's scale (a constant image ``a`` keeps the value ``a``); this truncation is what
   a scanner does (finite k-space extent), so the target-grid image is not an exact product of
   target-grid maps and image;
4. complex white Gaussian noise of standard deviation ``noise * max(reference)`` is added (with the
   orthonormal FFT, k-space noise has the same variance as image noise per pixel).

The reference image is the root-sum-of-squares of the coil images of the *noise-free* fully
sampled target-grid k-space (fastMRI's ``reconstruction_rss`` definition, without noise).
Randomness is an explicit ``jax.random`` key.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from operators.fft import fftc, ifftc

MNI_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


@functools.lru_cache(maxsize=1)
def _mni_volume() -> np.ndarray:
    """The MNI ICBM152 2009a T1 template carried by nilearn's wheel, as float32 (x, y, z)."""
    import importlib.resources

    import nibabel as nib

    path = importlib.resources.files("nilearn") / "datasets" / "data" / MNI_FILE
    return np.asarray(nib.load(str(path)).get_fdata(), np.float32)


def mni_slice(index: int, shape: tuple[int, int]) -> np.ndarray:
    """Axial slice ``index`` of the MNI template, padded square and resampled to ``shape``."""
    vol = _mni_volume()
    if not 0 <= index < vol.shape[2]:
        raise ValueError(f"MNI slice index must be in [0, {vol.shape[2]}), got {index}")
    sl = np.rot90(vol[:, :, index])
    n = max(sl.shape)
    sq = np.zeros((n, n), np.float32)
    oy, ox = (n - sl.shape[0]) // 2, (n - sl.shape[1]) // 2
    sq[oy : oy + sl.shape[0], ox : ox + sl.shape[1]] = sl
    out = ndimage.zoom(sq, (shape[0] / n, shape[1] / n), order=3)
    out = np.clip(out, 0, None)
    return (out / max(float(out.max()), 1e-12)).astype(np.float32)


def shepp_logan(shape: tuple[int, int]) -> np.ndarray:
    """scikit-image's Shepp-Logan phantom (400x400) resampled to ``shape`` (cubic spline)."""
    from skimage.data import shepp_logan_phantom

    ph = shepp_logan_phantom().astype(np.float32)
    out = ndimage.zoom(ph, (shape[0] / ph.shape[0], shape[1] / ph.shape[1]), order=3)
    return np.clip(out, 0, None).astype(np.float32)


def coil_maps(num_coils: int, shape: tuple[int, int], radius: float = 1.5) -> np.ndarray:
    """Analytic birdcage sensitivities ``(C, H, W)`` (``sigpy.mri.birdcage_maps``), complex64."""
    import sigpy.mri

    return np.asarray(sigpy.mri.birdcage_maps((num_coils, *shape), r=radius), np.complex64)


def smooth_phase(shape: tuple[int, int], strength: float = 0.6) -> np.ndarray:
    """A smooth background phase ``exp(i φ)`` (low-order polynomial), as B0/receiver phase."""
    y, x = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    phi = strength * (0.8 * x + 0.5 * y + 0.7 * x * y - 0.4 * x**2)
    return np.exp(1j * phi).astype(np.complex64)


def simulate_multicoil(
    image_fine: np.ndarray,
    out_shape: tuple[int, int],
    num_coils: int = 8,
    noise: float = 0.005,
    key: Any = None,
) -> dict[str, np.ndarray]:
    """Fully sampled k-space ``(C, H, W)`` at ``out_shape`` from a fine-grid complex image.

    Returns a dict with ``kspace`` (noisy, complex64), ``kspace_clean`` and ``target`` (RSS of
    the noise-free target-grid coil images, float32), and ``noise_std``.
    """
    image_fine = np.asarray(image_fine)
    fh, fw = image_fine.shape
    h, w = out_shape
    if fh < h or fw < w:
        raise ValueError(f"the fine grid {image_fine.shape} must be at least {out_shape}")
    maps = coil_maps(num_coils, (fh, fw))
    coil_img = jnp.asarray(maps * image_fine.astype(np.complex64))
    kf = fftc(coil_img, axes=(-2, -1))
    sy, sx = fh // 2 - h // 2, fw // 2 - w // 2
    k = kf[:, sy : sy + h, sx : sx + w] * np.float32(np.sqrt(h * w / (fh * fw)))
    target = jnp.sqrt(jnp.sum(jnp.abs(ifftc(k, axes=(-2, -1))) ** 2, axis=0))
    sigma = float(noise) * float(target.max())
    if key is None:
        key = jax.random.PRNGKey(0)
    k1, k2 = jax.random.split(key)
    n = (jax.random.normal(k1, k.shape, jnp.float32)
         + 1j * jax.random.normal(k2, k.shape, jnp.float32)) * np.float32(sigma / np.sqrt(2))
    return {
        "kspace": np.asarray(k + n, np.complex64),
        "kspace_clean": np.asarray(k, np.complex64),
        "target": np.asarray(target, np.float32),
        "noise_std": np.float32(sigma),
    }


def brain_slice_kspace(
    index: int, out_shape: tuple[int, int] = (256, 256), num_coils: int = 8,
    noise: float = 0.005, oversample: int = 2, key: Any = None,
) -> dict[str, np.ndarray]:
    """MNI slice ``index`` with a smooth phase on a grid ``oversample`` x finer, simulated."""
    fine = (out_shape[0] * oversample, out_shape[1] * oversample)
    img = mni_slice(index, fine) * smooth_phase(fine)
    return simulate_multicoil(img, out_shape, num_coils, noise, key)


def phantom_kspace(
    out_shape: tuple[int, int] = (64, 64), num_coils: int = 8, noise: float = 0.005,
    oversample: int = 2, key: Any = None,
) -> dict[str, np.ndarray]:
    """Shepp-Logan phantom with smooth phase, simulated as :func:`brain_slice_kspace`."""
    fine = (out_shape[0] * oversample, out_shape[1] * oversample)
    img = shepp_logan(fine) * smooth_phase(fine)
    return simulate_multicoil(img, out_shape, num_coils, noise, key)
