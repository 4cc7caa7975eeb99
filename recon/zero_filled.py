"""The zero-filled reconstruction in NumPy: no coil maps, no solver, no JAX.

``|x| = sqrt(Σ_c |F^{-1} y_c|²)``, the root-sum-of-squares of the coil images of the zero-filled
k-space under the centred orthonormal inverse FFT (fastMRI's baseline and intensity scale).

It needs two FFTs per coil and slice, which NumPy's pocketfft does in milliseconds; importing and
initialising JAX would cost seconds, so ``recon mri --method zero-filled`` never imports it.
"""

from __future__ import annotations

import numpy as np


def zero_filled_rss(kspace: np.ndarray) -> np.ndarray:
    """Magnitude images ``(S, H, W)`` float32 from k-space ``(S, C, H, W)``."""
    k = np.asarray(kspace)
    ns, _nc, h, w = k.shape
    out = np.empty((ns, h, w), np.float32)
    for s in range(ns):
        coil_images = np.fft.ifft2(np.fft.ifftshift(k[s].astype(np.complex64), axes=(-2, -1)),
                                   norm="ortho")
        # the final fftshift commutes with the magnitude: shift the real RSS image only
        out[s] = np.fft.fftshift(np.sqrt(np.sum(np.abs(coil_images) ** 2, axis=0)))
    return out
