"""Image-quality metrics with the fastMRI and dival definitions.

fastMRI (``fastmri/evaluate.py``, Zbontar et al., arXiv:1811.08839), for a volume ``gt``,
``pred`` of shape ``(slices, H, W)``:

- ``NMSE = ||gt - pred||_2^2 / ||gt||_2^2`` over the whole volume;
- ``PSNR = 10 log10(max(gt)^2 / mean((gt - pred)^2))`` over the whole volume, data range the
  volume maximum of the target (not max - min);
- ``SSIM`` = mean over slices of the 2-D SSIM (Wang et al., IEEE TIP 13(4), 2004) with a 7x7
  uniform window, ``K1 = 0.01``, ``K2 = 0.03``, sample covariances (``N/(N-1)``), data range the
  *volume* maximum of the target, averaged over the image minus a 3-pixel border (the definition
  of ``skimage.metrics.structural_similarity`` with its defaults, which fastMRI calls).

dival (Leuschner et al., ``dival.measure``), per image: data range ``max(gt) - min(gt)`` for both
PSNR and SSIM (same SSIM window and constants).

Implemented in NumPy/SciPy (metrics are evaluated on host arrays; no JAX purity is needed); the
SSIM is written out so that the volume data range and window are explicit, and is tested against
scikit-image on the same arrays.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _pair(gt: np.ndarray, pred: np.ndarray, ndim: int | None = None) -> tuple[np.ndarray, ...]:
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if gt.shape != pred.shape:
        raise ValueError(f"target has shape {gt.shape} but prediction has shape {pred.shape}")
    if ndim is not None and gt.ndim != ndim:
        raise ValueError(f"expected {ndim}-D arrays, found shape {gt.shape}")
    if not (np.isfinite(gt).all() and np.isfinite(pred).all()):
        raise ValueError("target or prediction contains NaN or Inf")
    return gt, pred


def nmse(gt: np.ndarray, pred: np.ndarray) -> float:
    """Normalised MSE ``||gt - pred||^2 / ||gt||^2`` (fastMRI)."""
    gt, pred = _pair(gt, pred)
    return float(np.sum((gt - pred) ** 2) / np.sum(gt**2))


def psnr(gt: np.ndarray, pred: np.ndarray, data_range: float | None = None) -> float:
    """PSNR in dB with data range ``max(gt)`` unless given (fastMRI, over the whole array)."""
    gt, pred = _pair(gt, pred)
    dr = float(gt.max()) if data_range is None else float(data_range)
    mse = float(np.mean((gt - pred) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(dr**2 / mse)


def ssim_image(
    gt: np.ndarray,
    pred: np.ndarray,
    data_range: float,
    win_size: int = SSIM_WINDOW,
    k1: float = SSIM_K1,
    k2: float = SSIM_K2,
) -> float:
    """2-D SSIM (uniform ``win_size`` window, sample covariance, border of ``win_size//2``
    excluded from the mean; reflect padding in the local means)."""
    gt, pred = _pair(gt, pred, ndim=2)
    if min(gt.shape) < win_size:
        raise ValueError(f"image {gt.shape} is smaller than the SSIM window {win_size}")
    npix = win_size**2
    cov_norm = npix / (npix - 1.0)
    ux = uniform_filter(gt, win_size)
    uy = uniform_filter(pred, win_size)
    uxx = uniform_filter(gt * gt, win_size)
    uyy = uniform_filter(pred * pred, win_size)
    uxy = uniform_filter(gt * pred, win_size)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (win_size - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())


def ssim(gt: np.ndarray, pred: np.ndarray, data_range: float | None = None) -> float:
    """fastMRI volume SSIM: mean over slices, data range ``max(gt)`` of the whole volume."""
    gt, pred = _pair(gt, pred, ndim=3)
    dr = float(gt.max()) if data_range is None else float(data_range)
    return float(np.mean([ssim_image(g, p, dr) for g, p in zip(gt, pred, strict=True)]))


def fastmri_metrics(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """NMSE, PSNR and SSIM of a ``(slices, H, W)`` volume, fastMRI definitions."""
    gt, pred = _pair(gt, pred, ndim=3)
    return {"NMSE": nmse(gt, pred), "PSNR": psnr(gt, pred), "SSIM": ssim(gt, pred)}


def dival_psnr(gt: np.ndarray, pred: np.ndarray) -> float:
    """dival's per-image PSNR: data range ``max(gt) - min(gt)``."""
    gt, pred = _pair(gt, pred)
    return psnr(gt, pred, data_range=float(gt.max() - gt.min()))


def dival_ssim(gt: np.ndarray, pred: np.ndarray) -> float:
    """dival's per-image SSIM: data range ``max(gt) - min(gt)``."""
    gt, pred = _pair(gt, pred, ndim=2)
    return ssim_image(gt, pred, data_range=float(gt.max() - gt.min()))


def per_image(gt: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """dival-style PSNR and SSIM of every slice of ``(slices, H, W)`` arrays."""
    gt, pred = _pair(gt, pred, ndim=3)
    return {
        "PSNR": np.array([dival_psnr(g, p) for g, p in zip(gt, pred, strict=True)]),
        "SSIM": np.array([dival_ssim(g, p) for g, p in zip(gt, pred, strict=True)]),
    }
