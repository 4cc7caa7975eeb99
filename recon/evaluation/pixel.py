"""Pixel-level tier: NMSE, PSNR, SSIM from :mod:`recon.metrics` (no re-implementation).

MRI uses the fastMRI definitions over the stack of test slices (data range = volume maximum of
the target); CT uses dival's per-image PSNR/SSIM (data range = max - min of each target),
averaged over images, with the per-image NMSE averaged likewise.
"""

from __future__ import annotations

import numpy as np

from recon.metrics import dival_psnr, dival_ssim, fastmri_metrics, nmse


def pixel_metrics(truth: np.ndarray, recon: np.ndarray, convention: str) -> dict[str, float]:
    """NMSE, PSNR (dB) and SSIM of ``recon`` against ``truth``, both ``(N, H, W)`` real.

    ``convention`` is ``"fastmri"`` (volume definitions) or ``"dival"`` (per-image, averaged).
    """
    truth = np.asarray(truth, np.float64)
    recon = np.asarray(recon, np.float64)
    if truth.ndim != 3 or truth.shape != recon.shape:
        raise ValueError(f"pixel_metrics: need two (N, H, W) arrays of one shape, found "
                         f"{truth.shape} and {recon.shape}")
    if convention == "fastmri":
        return fastmri_metrics(truth, recon)
    if convention == "dival":
        return {
            "NMSE": float(np.mean([nmse(t, r) for t, r in zip(truth, recon, strict=True)])),
            "PSNR": float(np.mean([dival_psnr(t, r) for t, r in zip(truth, recon, strict=True)])),
            "SSIM": float(np.mean([dival_ssim(t, r) for t, r in zip(truth, recon, strict=True)])),
        }
    raise ValueError(f"pixel_metrics: convention must be 'fastmri' or 'dival', got {convention!r}")
