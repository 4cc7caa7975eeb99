"""Fan-beam projector (flat or equiangular arc detector), ray-driven with an exact adjoint.

Geometry (same frame as :mod:`operators.ct.parallel`): at angle θ let ``e = (cos θ, sin θ)`` and
``e⊥ = (-sin θ, cos θ)``. The source is at ``+source_origin · e⊥``; the detector centre at
``-origin_det · e⊥``. Detector position ``u_k = (k - (n_det-1)/2) · det_spacing``:

- ``detector="flat"``: the bin is at ``-origin_det · e⊥ + u_k · e`` (a line perpendicular to the
  central ray); ``det_spacing`` is the bin pitch on that line;
- ``detector="arc"``: the bin is on the circle of radius ``source_origin + origin_det`` about the
  source, at fan angle ``γ_k = u_k / (source_origin + origin_det)`` from the central ray, towards
  ``+e``; ``det_spacing`` is the arc length between bins.

``sino[a, k]`` is the line integral of the image along the ray from the source to bin ``k``.
At θ = 0 the source is on the ``+y`` side and the detector axis is ``+x``, as the
parallel-beam geometry, which it tends to as ``source_origin → ∞``. ASTRA's ``fanflat`` with
angles ``-θ`` (and its ``source_origin``, ``origin_det``, ``det_width = det_spacing``) is the same
geometry.
Projection by Joseph's method (:mod:`operators.ct.raydriven`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from operators.ct._checks import (
    check_angles,
    check_count,
    check_finite,
    check_positive,
    check_real_dtype,
    check_shape,
)
from operators.ct.raydriven import RayProjector2D


def fan_beam(
    image_shape: tuple[int, int],
    angles,
    det_count: int,
    source_origin: float,
    origin_det: float,
    det_spacing: float = 1.0,
    detector: str = "flat",
    det_offset: float = 0.0,
    pixel_size: float = 1.0,
    dtype=np.float32,
    chunk: int = 1,
) -> RayProjector2D:
    """Fan-beam projector ``img (H, W) -> sino (n_angles, det_count)`` (conventions above)."""
    image_shape = check_shape("image_shape", image_shape, 2)
    angles = check_angles(angles)
    det_count = check_count("det_count", det_count)
    source_origin = check_positive("source_origin", source_origin)
    origin_det = check_finite("origin_det", origin_det)
    if source_origin + origin_det <= 0:
        raise ValueError(
            "source_origin + origin_det must be > 0 (the detector beyond the source), found "
            f"{source_origin} + {origin_det}"
        )
    det_spacing = check_positive("det_spacing", det_spacing)
    det_offset = check_finite("det_offset", det_offset)
    pixel_size = check_positive("pixel_size", pixel_size)
    dtype = check_real_dtype(dtype)
    if detector not in ("flat", "arc"):
        raise ValueError(f"detector must be 'flat' or 'arc', found {detector!r}")
    radius = 0.5 * np.hypot(*image_shape) * pixel_size
    if source_origin <= radius:
        raise ValueError(
            f"source_origin must exceed the image's half-diagonal {radius:.3g} (the source must be "
            f"outside the image), found {source_origin}"
        )
    return RayProjector2D(
        angles=jnp.asarray(angles, dtype),
        image_shape=image_shape,
        det_count=det_count,
        kind=detector,
        det_spacing=det_spacing,
        det_offset=det_offset,
        pixel_size=pixel_size,
        source_origin=source_origin,
        origin_det=origin_det,
        dtype=dtype,
        chunk=check_count("chunk", chunk),
    )
