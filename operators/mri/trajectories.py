"""Non-Cartesian k-space trajectories in sigpy's units (cycles per FOV, in ``[-N/2, N/2)``).

All generators return float arrays ``(..., d)`` that :func:`operators.mri.nufft` accepts directly.
Radial, golden-angle radial and 3-D golden-means radial ("kooshball") trajectories are
``sigpy.mri.radial`` (centre-out spokes: Winkelmann et al., TMI 2007; Chan et al., MRM 2009), the
spiral is ``sigpy.mri.spiral``; here they only gain argument checks, the
conversion of the spiral from cycles per metre to cycles per FOV and clipping into the half-open
NUFFT range (the spiral ends on ``|k| = N/2``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check_positive(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _into_range(coords: np.ndarray, image_shape: Sequence[int]) -> np.ndarray:
    """Clip to ``[-N/2, N/2)`` (the largest float below ``N/2`` replaces ``N/2``)."""
    n = np.asarray(image_shape, np.float64)
    hi = np.nextafter(n / 2, 0)
    return np.clip(coords, -n / 2, hi)


def radial(
    spokes: int, samples: int, image_shape: Sequence[int], golden: bool = False
) -> np.ndarray:
    """2-D radial trajectory ``(spokes, samples, 2)``: centre-out spokes (``sigpy.mri.radial``).

    ``golden=False``: angles ``2 pi s / spokes`` (uniform over the full circle);
    ``golden=True``: golden-angle increments ``pi (3 - sqrt 5)``. Each spoke has ``samples``
    points from the centre to radius ``N/2`` (exclusive), spaced ``N / (2 samples)``.
    """
    import sigpy.mri

    spokes, samples = _check_positive("spokes", spokes), _check_positive("samples", samples)
    if len(image_shape) != 2:
        raise ValueError(f"radial() is 2-D: image_shape must have 2 entries, got {image_shape}")
    c = sigpy.mri.radial((spokes, samples, 2), tuple(image_shape), golden=golden)
    return _into_range(c, image_shape)


def golden_angle_radial(spokes: int, samples: int, image_shape: Sequence[int]) -> np.ndarray:
    """2-D golden-angle radial trajectory (``radial(..., golden=True)``)."""
    return radial(spokes, samples, image_shape, golden=True)


def radial_3d(spokes: int, samples: int, image_shape: Sequence[int]) -> np.ndarray:
    """3-D radial "kooshball" ``(spokes, samples, 3)`` with 2-D golden-means ordering (sigpy)."""
    import sigpy.mri

    spokes, samples = _check_positive("spokes", spokes), _check_positive("samples", samples)
    if len(image_shape) != 3:
        raise ValueError(f"radial_3d() needs a 3-entry image_shape, got {image_shape}")
    c = sigpy.mri.radial((spokes, samples, 3), tuple(image_shape), golden=True)
    return _into_range(c, image_shape)


def spiral(
    fov: float,
    n: int,
    interleaves: int,
    f_sampling: float = 0.2,
    undersampling: float = 1.0,
    alpha: float = 1.0,
    gm: float = 0.04,
    sm: float = 150.0,
) -> np.ndarray:
    """2-D variable-density spiral ``(interleaves * samples, 2)`` for an ``n x n`` image.

    ``sigpy.mri.spiral(fov, n, f_sampling, undersampling, interleaves, alpha, gm, sm)`` (Kim et
    al., MRM 2003): ``fov`` in metres, gradient limit ``gm`` (T/m), slew ``sm`` (T/m/s),
    ``alpha`` the variable-density exponent (1 = uniform). sigpy returns k in cycles per metre
    (up to ``n / (2 fov)``); it is multiplied by ``fov`` to give cycles per FOV and clipped into
    ``[-n/2, n/2)``.
    """
    import sigpy.mri

    n = _check_positive("n", n)
    interleaves = _check_positive("interleaves", interleaves)
    if fov <= 0 or undersampling <= 0 or f_sampling <= 0:
        raise ValueError(
            f"spiral needs positive fov, f_sampling and undersampling; got {fov}, {f_sampling}, "
            f"{undersampling}"
        )
    c = sigpy.mri.spiral(fov, n, f_sampling, undersampling, interleaves, alpha, gm, sm)
    return _into_range(np.asarray(c, np.float64) * fov, (n, n))


__all__ = ["golden_angle_radial", "radial", "radial_3d", "spiral"]
