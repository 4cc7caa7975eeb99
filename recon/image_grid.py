"""Image-grid conventions of the output: centre crops, the ISMRMRD reconSpace matrix, orientation.

- **Centre crop** (:func:`centre_crop`): fastMRI's ``center_crop`` convention, the crop starts at
  ``(n - m) // 2``.
- **Phase-encode field of view** (:func:`fit_length`): ISMRMRD's ``reconSpace`` matrix along the
  phase-encode direction ``y`` may be smaller than ``encodedSpace`` (phase oversampling: the
  image is centre-cropped after reconstruction) or larger (reduced phase resolution: k-space is
  zero-padded before reconstruction, the scanner's zero-filled interpolation).
- **Orientation** (:func:`orient`): the engine works in the fastMRI layout, rows = readout
  (ISMRMRD ``x``), columns = phase encode (``y``). ``ismrmrd`` orientation is its transpose,
  rows = ``y``, columns = ``x``: the image array ``[y, x]`` that ISMRMRD's own
  ``ismrmrd_recon_cartesian_2d`` writes (checked against it, up to its unnormalised FFT scale).
"""

from __future__ import annotations

import numpy as np

ORIENTATIONS = ("fastmri", "ismrmrd")


def centre_crop(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centre crop of the last two axes (fastMRI's ``center_crop`` convention)."""
    h, w = images.shape[-2:]
    ch, cw = shape
    if ch > h or cw > w or ch < 1 or cw < 1:
        raise ValueError(f"crop {ch}x{cw} does not fit the image {h}x{w}")
    sh, sw = (h - ch) // 2, (w - cw) // 2
    return images[..., sh : sh + ch, sw : sw + cw]


def fit_length(arr: np.ndarray, n: int, axis: int = -1) -> np.ndarray:
    """Centre-crop or zero-pad ``arr`` to length ``n`` along ``axis``.

    The centre index ``m // 2`` of the input lands on the centre index ``n // 2`` of the output,
    so that the k-space centre stays the k-space centre (crop and pad are each other's inverse).
    """
    arr = np.moveaxis(np.asarray(arr), axis, -1)
    m = arr.shape[-1]
    if n == m:
        out = arr
    elif n < m:
        start = m // 2 - n // 2
        out = arr[..., start : start + n]
    else:
        out = np.zeros((*arr.shape[:-1], n), arr.dtype)
        start = n // 2 - m // 2
        out[..., start : start + m] = arr
    return np.moveaxis(out, -1, axis)


def orient(images: np.ndarray, orientation: str) -> np.ndarray:
    """Images ``(..., readout, phase encode)`` in the requested output orientation."""
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {', '.join(ORIENTATIONS)}, "
                         f"got {orientation}")
    return images if orientation == "fastmri" else np.swapaxes(images, -1, -2)
