"""Raw-data pre-processing: noise prewhitening, SVD coil compression, oversampling removal.

- **Prewhitening** (Pruessmann et al., MRM 46:638, 2001, appendix; Hansen & Kellman, JMRI
  41:573, 2015): from noise samples ``n`` (``C x N``) the coil noise covariance is
  ``Ψ = n n^H / N``; with its Cholesky factor ``Ψ = L L^H`` the data ``L^{-1} d`` has identity
  noise covariance, which is what least-squares SENSE assumes (here scaled by the mean coil
  noise standard deviation, so that intensities keep their scale).
- **Coil compression** (Buehrer et al., MRM 57:1131, 2007; Huang et al., MRI 26:133, 2008): the
  ``N`` dominant left singular vectors ``U_N`` of the coils-by-samples data matrix give virtual
  coils ``U_N^H d``; one compression matrix for the whole volume, from all its samples.
- **Readout oversampling removal**: inverse FFT along the readout axis, keep the central
  ``1/factor`` of the field of view, FFT back (orthonormal and centred: image values are
  unchanged).

NumPy host code: these run once per file, before the jitted reconstruction.
"""

from __future__ import annotations

import numpy as np


def noise_covariance(noise: np.ndarray) -> np.ndarray:
    """``Ψ = n n^H / N`` of noise samples ``(C, ...)`` (samples on all trailing axes)."""
    n = np.asarray(noise).reshape(noise.shape[0], -1)
    if n.shape[1] < n.shape[0]:
        raise ValueError(f"need at least as many noise samples as coils, got {n.shape[1]} for "
                         f"{n.shape[0]} coils")
    return (n @ n.conj().T) / n.shape[1]


def whitening_matrix(noise: np.ndarray, keep_scale: bool = True) -> np.ndarray:
    """``W = L^{-1}`` with ``Ψ = L L^H``, so that ``W Ψ W^H = I``.

    With ``keep_scale`` (default) ``W`` is multiplied by ``sqrt(mean(diag Ψ))``: the whitened
    noise then has the data's mean noise variance instead of 1, so intensities keep their scale
    (for uncorrelated, equal-variance coils ``W = I``); ``W Ψ W^H`` is a multiple of ``I``.
    """
    psi = noise_covariance(noise)
    try:
        chol = np.linalg.cholesky(psi)
    except np.linalg.LinAlgError as err:
        raise ValueError("noise covariance is not positive definite (dead or duplicate coil?)"
                         ) from err
    w = np.linalg.inv(chol)
    if keep_scale:
        w = w * np.sqrt(np.mean(np.real(np.diag(psi))))
    return w


def prewhiten(data: np.ndarray, noise: np.ndarray, coil_axis: int = 0) -> np.ndarray:
    """Apply the whitening matrix of ``noise`` (``(C, N)``) along ``coil_axis`` of ``data``."""
    w = whitening_matrix(noise)
    d = np.moveaxis(np.asarray(data), coil_axis, 0)
    if d.shape[0] != w.shape[0]:
        raise ValueError(f"data has {d.shape[0]} coils but the noise scan has {w.shape[0]}")
    out = np.tensordot(w, d, axes=(1, 0)).astype(np.result_type(data.dtype, np.complex64))
    return np.moveaxis(out, 0, coil_axis)


def compression_matrix(data: np.ndarray, num_virtual: int, coil_axis: int = 0) -> np.ndarray:
    """``U_N^H`` (``N x C``) from the SVD of the coils-by-samples matrix of ``data``."""
    d = np.moveaxis(np.asarray(data), coil_axis, 0)
    c = d.shape[0]
    if not 1 <= num_virtual <= c:
        raise ValueError(f"cannot compress {c} coils to {num_virtual} virtual coils")
    m = d.reshape(c, -1)
    m = m[:, np.any(m != 0, axis=0)]
    u, _, _ = np.linalg.svd(m @ m.conj().T)  # C x C: cheap, same left singular vectors
    return u[:, :num_virtual].conj().T


def compress_coils(data: np.ndarray, num_virtual: int, coil_axis: int = 0) -> np.ndarray:
    """Project ``data`` onto its ``num_virtual`` dominant SVD virtual coils."""
    a = compression_matrix(data, num_virtual, coil_axis)
    d = np.moveaxis(np.asarray(data), coil_axis, 0)
    out = np.tensordot(a, d, axes=(1, 0)).astype(np.result_type(data.dtype, np.complex64))
    return np.moveaxis(out, 0, coil_axis)


def remove_readout_oversampling(kspace: np.ndarray, factor: int = 2, axis: int = -2
                                ) -> np.ndarray:
    """Crop the readout field of view by ``factor`` (k-space in, k-space out)."""
    k = np.moveaxis(np.asarray(kspace), axis, -1)
    n = k.shape[-1]
    if factor < 1 or n % factor:
        raise ValueError(f"readout length {n} is not divisible by the oversampling {factor}")
    m = n // factor
    img = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(k, axes=-1), axis=-1, norm="ortho"),
                          axes=-1)
    img = img[..., n // 2 - m // 2 : n // 2 - m // 2 + m]
    out = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(img, axes=-1), axis=-1, norm="ortho"),
                          axes=-1)
    # orthonormal transforms both ways: image values (the fastMRI intensity scale) are kept
    return np.moveaxis(out.astype(np.result_type(kspace.dtype, np.complex64)), -1, axis)
