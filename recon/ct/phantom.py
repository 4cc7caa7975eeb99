"""Shepp-Logan phantoms (2-D and 3-D) with exact, analytic ray integrals.

The 2-D phantom is the modified Shepp-Logan of P. Toft (*The Radon Transform*, PhD thesis, DTU
1996, table of ellipses with higher contrast); the 3-D one is its usual ellipsoid extension (as in
Kak & Slaney, ch. 3, and MATLAB's ``phantom3d``). Coordinates are normalised: ``±1`` is half the
image width (and height, depth) in the geometry of :mod:`operators.ct`, so the phantom fills the
field of view. Ellipses are stated in DESIGN.md's ``(x, y)`` frame (``y`` grows with the row index).

Analytic projections avoid the inverse crime in tests and demos: the line integral of an
ellipsoid ``|A (r - c)| <= 1`` along ``s + t d`` is ``ρ |d| · 2 sqrt(B² - A C) / A`` with the
quadratic's coefficients, so any geometry given by its rays (:func:`ray_integrals`) is exact.
"""

from __future__ import annotations

import numpy as np

# density, semi-axes (a, b), centre (x0, y0), rotation (degrees)
SHEPP_LOGAN_2D = np.array(
    [
        [1.0, 0.69, 0.92, 0.0, 0.0, 0.0],
        [-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0],
        [-0.2, 0.11, 0.31, 0.22, 0.0, -18.0],
        [-0.2, 0.16, 0.41, -0.22, 0.0, 18.0],
        [0.1, 0.21, 0.25, 0.0, 0.35, 0.0],
        [0.1, 0.046, 0.046, 0.0, 0.1, 0.0],
        [0.1, 0.046, 0.046, 0.0, -0.1, 0.0],
        [0.1, 0.046, 0.023, -0.08, -0.605, 0.0],
        [0.1, 0.023, 0.023, 0.0, -0.606, 0.0],
        [0.1, 0.023, 0.046, 0.06, -0.605, 0.0],
    ]
)

# density, semi-axes (a, b, c), centre (x0, y0, z0), rotation about z (degrees)
SHEPP_LOGAN_3D = np.array(
    [
        [1.0, 0.69, 0.92, 0.81, 0.0, 0.0, 0.0, 0.0],
        [-0.8, 0.6624, 0.874, 0.78, 0.0, -0.0184, 0.0, 0.0],
        [-0.2, 0.11, 0.31, 0.22, 0.22, 0.0, 0.0, -18.0],
        [-0.2, 0.16, 0.41, 0.28, -0.22, 0.0, 0.0, 18.0],
        [0.1, 0.21, 0.25, 0.41, 0.0, 0.35, -0.15, 0.0],
        [0.1, 0.046, 0.046, 0.05, 0.0, 0.1, 0.25, 0.0],
        [0.1, 0.046, 0.046, 0.05, 0.0, -0.1, 0.25, 0.0],
        [0.1, 0.046, 0.023, 0.05, -0.08, -0.605, 0.0, 0.0],
        [0.1, 0.023, 0.023, 0.02, 0.0, -0.606, 0.0, 0.0],
        [0.1, 0.023, 0.046, 0.02, 0.06, -0.605, 0.0, 0.0],
    ]
)


def _ellipsoids(ndim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(density, semi-axes, centres, rotations) in normalised units, as (n, ndim) arrays."""
    table = SHEPP_LOGAN_2D if ndim == 2 else SHEPP_LOGAN_3D
    rho = table[:, 0]
    axes = table[:, 1 : 1 + ndim]
    centres = table[:, 1 + ndim : 1 + 2 * ndim]
    phi = np.deg2rad(table[:, -1])
    rot = np.zeros((len(rho), ndim, ndim))
    c, s = np.cos(phi), np.sin(phi)
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = c, -s, s, c
    if ndim == 3:
        rot[:, 2, 2] = 1.0
    return rho, axes, centres, rot


def _half_extent(shape, pixel_size: float) -> np.ndarray:
    """Half widths (x, y[, z]) of the field of view for an image of ``shape`` (rows first)."""
    return 0.5 * np.asarray(shape[::-1], dtype=np.float64) * pixel_size


def shepp_logan(
    shape: tuple[int, ...], pixel_size: float = 1.0, supersample: int = 1, shift: float = 0.0
):
    """Rasterised phantom of ``shape`` ((H, W) or (D, H, W)), pixel-centre values averaged over
    ``supersample**ndim`` sub-samples (float64). ``shift`` moves every pixel centre by that many
    pixels along each axis (e.g. ``-0.5`` for scikit-image's rotation centre ``N // 2`` at even
    ``N``)."""
    ndim = len(shape)
    if ndim not in (2, 3):
        raise ValueError(f"shape must be (H, W) or (D, H, W), found {shape!r}")
    rho, axes, centres, rot = _ellipsoids(ndim)
    half = _half_extent(shape, pixel_size)
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    grids = []
    for n in shape[::-1]:  # x, y, z index ranges
        grids.append(((np.arange(n)[:, None] - 0.5 * (n - 1) + shift) + sub[None, :]).ravel())
    mesh = np.meshgrid(*grids, indexing="ij")  # axes ordered x, y[, z]
    pts = np.stack([m * pixel_size for m in mesh], axis=-1) / half.max()
    out = np.zeros(pts.shape[:-1])
    for k in range(len(rho)):
        local = (pts - centres[k]) @ rot[k]  # rotate into the ellipsoid frame
        inside = np.sum((local / axes[k]) ** 2, axis=-1) <= 1.0
        out += rho[k] * inside
    # back to (rows, cols) / (slices, rows, cols) order, averaging sub-samples
    full = out.transpose(*range(ndim)[::-1])
    shp = []
    for n in shape:
        shp += [n, supersample]
    return full.reshape(shp).mean(axis=tuple(range(1, 2 * ndim, 2)))


def ray_integrals(src: np.ndarray, dirs: np.ndarray, shape, pixel_size: float = 1.0) -> np.ndarray:
    """Exact line integrals of the phantom for ``shape`` along the lines ``src + t dirs``.

    ``src`` and ``dirs`` are ``(..., ndim)`` arrays in (x, y[, z]) physical units; the lines are
    infinite (the phantom lies between source and detector in every CT geometry here).
    """
    src = np.asarray(src, dtype=np.float64)
    dirs = np.asarray(dirs, dtype=np.float64)
    ndim = src.shape[-1]
    rho, axes, centres, rot = _ellipsoids(ndim)
    scale = _half_extent(shape, pixel_size).max()
    s = src / scale
    d = dirs / scale
    out = np.zeros(src.shape[:-1])
    for k in range(len(rho)):
        sl = ((s - centres[k]) @ rot[k]) / axes[k]
        dl = (d @ rot[k]) / axes[k]
        a = np.sum(dl * dl, axis=-1)
        b = np.sum(sl * dl, axis=-1)
        c = np.sum(sl * sl, axis=-1) - 1.0
        disc = np.maximum(b * b - a * c, 0.0)
        out += rho[k] * 2.0 * np.sqrt(disc) / a * np.linalg.norm(dirs, axis=-1)
    return out


def parallel_sinogram(
    shape: tuple[int, int],
    angles,
    det_count: int,
    det_spacing: float = 1.0,
    det_offset: float = 0.0,
    pixel_size: float = 1.0,
) -> np.ndarray:
    """Analytic parallel-beam sinogram in the geometry of :func:`operators.ct.parallel_beam`."""
    theta = np.asarray(angles, dtype=np.float64)[:, None]
    s = (np.arange(det_count) - 0.5 * (det_count - 1)) * det_spacing + det_offset
    e = np.stack([np.cos(theta), np.sin(theta)], -1) * np.ones((1, det_count, 1))
    src = s[None, :, None] * e
    dirs = np.stack([-np.sin(theta), np.cos(theta)], -1) * np.ones((1, det_count, 1))
    return ray_integrals(src, dirs, shape, pixel_size)


def projections(op) -> np.ndarray:
    """Analytic sinogram / projections of the phantom in the geometry of a CT operator
    (:func:`operators.ct.parallel_beam`, :func:`fan_beam` or :func:`cone_beam`)."""
    from operators.ct.fan import FanBeam
    from operators.ct.parallel import ParallelBeam
    from operators.ct.raydriven import ConeBeam, RayProjector2D

    angles = np.asarray(op.angles, dtype=np.float64)
    if isinstance(op, ParallelBeam):
        return parallel_sinogram(
            op.image_shape, angles, op.det_count, op.det_spacing, op.det_offset, op.pixel_size
        )
    if isinstance(op, (RayProjector2D, FanBeam)):
        rays = [op.rays(a) for a in angles]
        src = np.stack([np.asarray(r[0], np.float64) for r in rays])
        dirs = np.stack([np.asarray(r[1], np.float64) for r in rays])
        return ray_integrals(src, dirs, op.image_shape, op.pixel_size)
    if isinstance(op, ConeBeam):
        n_v, n_u = op.det_shape
        dv, du = op.det_spacing
        r_s, r_d = op.source_origin, op.origin_det
        u = (np.arange(n_u) - 0.5 * (n_u - 1)) * du
        v = (np.arange(n_v) - 0.5 * (n_v - 1)) * dv
        out = np.empty((len(angles), n_v, n_u))
        for i, b in enumerate(angles):
            e = np.array([np.cos(b), np.sin(b), 0.0])
            ep = np.array([-np.sin(b), np.cos(b), 0.0])
            src = r_s * ep
            det = -r_d * ep + u[None, :, None] * e + v[:, None, None] * np.array([0, 0, 1.0])
            out[i] = ray_integrals(
                np.broadcast_to(src, det.shape), det - src, op.volume_shape, op.voxel_size
            )
        return out
    raise ValueError(f"projections needs a CT projector from operators.ct, found {op!r}")
