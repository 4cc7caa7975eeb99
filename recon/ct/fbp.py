"""Filtered backprojection: ramp-filter family, parallel and fan-beam FBP, FDK for cone beam.

References: A. C. Kak and M. Slaney, *Principles of Computerized Tomographic Imaging*, IEEE Press
1988, ch. 3 (the band-limited ramp kernel ``h[0] = 1/4``, ``h[n odd] = -1/(π n)²``, parallel and
fan-beam formulas for equiangular and equispaced detectors); L. A. Feldkamp, L. C. Davis and
J. W. Kress, "Practical cone-beam algorithm", JOSA A 1(6), 1984 (FDK).

Filters (``filter=``): ``"ram-lak"``, ``"shepp-logan"``, ``"cosine"``, ``"hamming"``, ``"hann"``:
the discrete ramp ``R(f)`` (DFT of Kak & Slaney's spatial kernel on a zero-padded grid of at least
``2 n_det`` bins, so the circular convolution does not wrap) times a window of the normalised
frequency ``ν = |f| / (f_N · frequency_scaling)``: 1, ``sinc(ν/2)``, ``cos(πν/2)``,
``0.54 + 0.46 cos(πν)``, ``0.5 + 0.5 cos(πν)``; zero for ``ν > 1``.

Parallel beam (angles evenly covering π or 2π): ``f(r) = (π / n_angles) Σ_a q_a(r · e_a)`` with
``q = (h * sino) / d`` and linear interpolation of each filtered view (as scikit-image's
``iradon``), so the result does not depend on which projector model made the data; pixels outside
the disc seen by every view are set to zero. ``upsample > 1`` interpolates the filtered views
band-limitedly onto a finer grid first (sharper, but more ringing on sharp phantoms). Fan beam
(full 2π scan) and FDK use the same pixel-driven weighted backprojection with linear (FDK:
bilinear) detector interpolation, in JAX (gathers, ``lax.scan`` over views), with the geometry
of :func:`operators.ct.fan_beam` / :func:`operators.ct.cone_beam`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from operators.ct.fan import FanBeam
from operators.ct.parallel import ParallelBeam
from operators.ct.raydriven import ConeBeam, RayProjector2D

UPSAMPLE = 1  # filtered views are interpolated on a grid this much finer than the detector
FILTERS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")


def _padded_size(n: int) -> int:
    return max(64, int(2 ** np.ceil(np.log2(2 * n))))


def ramp_filter(n_det: int, filter: str = "ram-lak", frequency_scaling: float = 1.0) -> np.ndarray:
    """Frequency response (length ``n_pad``, numpy FFT order) for unit detector spacing."""
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {', '.join(FILTERS)}, found {filter!r}")
    fs = float(frequency_scaling)
    if not 0 < fs <= 1:
        raise ValueError(f"frequency_scaling must be in (0, 1], found {frequency_scaling!r}")
    n_pad = _padded_size(n_det)
    idx = np.concatenate([np.arange(0, n_pad // 2 + 1), np.arange(-(n_pad // 2) + 1, 0)])
    h = np.zeros(n_pad)
    h[0] = 0.25
    odd = idx % 2 == 1
    h[odd] = -1.0 / (np.pi * idx[odd]) ** 2
    ramp = np.real(np.fft.fft(h))
    nu = np.abs(np.fft.fftfreq(n_pad)) / (0.5 * fs)
    window = {
        "ram-lak": np.ones_like(nu),
        "shepp-logan": np.sinc(nu / 2),
        "cosine": np.cos(np.pi * nu / 2),
        "hamming": 0.54 + 0.46 * np.cos(np.pi * nu),
        "hann": 0.5 + 0.5 * np.cos(np.pi * nu),
    }[filter]
    return np.where(nu <= 1.0, ramp * window, 0.0)


def _filter_rows(sino: jax.Array, response: np.ndarray, upsample: int = 1) -> jax.Array:
    """Convolve the last axis with the kernel whose zero-padded DFT is ``response``; with
    ``upsample > 1`` return the band-limited interpolation at ``upsample`` points per bin."""
    n = sino.shape[-1]
    n_pad = response.shape[0]
    pad = [(0, 0)] * (sino.ndim - 1) + [(0, n_pad - n)]
    spec = jnp.fft.rfft(jnp.pad(sino, pad), axis=-1)
    resp = jnp.asarray(response[: n_pad // 2 + 1], sino.dtype)
    out = jnp.fft.irfft(spec * resp, n=n_pad * upsample, axis=-1)[..., : n * upsample]
    return (upsample * out).astype(sino.dtype)


def filter_sinogram(
    sino: jax.Array, filter: str = "ram-lak", frequency_scaling: float = 1.0, spacing=1.0
) -> jax.Array:
    """Ramp-filter the detector (last) axis: ``(h * p)(s_k)`` for bin spacing ``spacing``."""
    response = ramp_filter(sino.shape[-1], filter, frequency_scaling)
    return _filter_rows(sino, response) / spacing


def _check_sino(op, sino) -> jax.Array:
    sino = jnp.asarray(sino)
    if tuple(sino.shape) != tuple(op.out_shape):
        raise ValueError(
            f"sinogram has shape {tuple(sino.shape)}, the geometry expects {tuple(op.out_shape)}"
        )
    if not jnp.issubdtype(sino.dtype, jnp.floating):
        raise ValueError(f"sinogram must be real floating point, found dtype {sino.dtype}")
    return sino.astype(op.out_dtype)


def fbp(
    op,
    sino: jax.Array,
    filter: str = "ram-lak",
    frequency_scaling: float = 1.0,
    upsample: int = UPSAMPLE,
) -> jax.Array:
    """Filtered backprojection for the geometry of ``op`` (parallel, fan flat/arc, or cone: FDK).

    Parallel beam needs angles evenly covering π (or 2π); fan and cone beam a full 2π scan with
    evenly spaced views (no short-scan weighting). Returns an image of ``op.in_shape``.
    """
    if not isinstance(op, (ParallelBeam, RayProjector2D, FanBeam, ConeBeam)):
        raise ValueError(f"fbp needs a CT projector from operators.ct, found {op!r}")
    sino = _check_sino(op, sino)
    if isinstance(op, ParallelBeam) or (isinstance(op, RayProjector2D) and op.kind == "parallel"):
        return _fbp_parallel(op, sino, filter, frequency_scaling, upsample)
    if isinstance(op, (RayProjector2D, FanBeam)):
        return _fbp_fan(op, sino, filter, frequency_scaling, upsample)
    if isinstance(op, ConeBeam):
        return fdk(op, sino, filter, frequency_scaling)
    raise ValueError(f"fbp needs a CT projector from operators.ct, found {op!r}")


def _fbp_parallel(op, sino, filter, frequency_scaling, upsample):
    dt = op.in_dtype
    n_angles, n_det = sino.shape
    response = ramp_filter(n_det, filter, frequency_scaling)
    q = _filter_rows(sino, response, upsample) / op.det_spacing
    x, y = _pixel_grid(op.image_shape, op.pixel_size, dt)
    center = 0.5 * (n_det - 1) - op.det_offset / op.det_spacing

    def one(carry, inputs):
        theta, row = inputs
        pos = (x * jnp.cos(theta) + y * jnp.sin(theta)) / op.det_spacing + center
        return carry + _interp1(row, pos * upsample), None

    img, _ = jax.lax.scan(one, jnp.zeros(op.image_shape, dt), (op.angles.astype(dt), q))
    img = (np.pi / n_angles) * img
    # pixels outside the disc that every view covers are not reconstructable: zero them
    radius = min(center, n_det - 1 - center) * op.det_spacing
    return jnp.where(x * x + y * y <= radius * radius, img, 0.0).astype(dt)


def _pixel_grid(shape, p, dtype):
    h, w = shape
    x = (jnp.arange(w, dtype=dtype) - 0.5 * (w - 1)) * p
    y = (jnp.arange(h, dtype=dtype) - 0.5 * (h - 1)) * p
    return jnp.meshgrid(x, y, indexing="xy")  # (H, W) each


def _interp1(row: jax.Array, pos: jax.Array) -> jax.Array:
    """Linear interpolation of ``row`` at fractional indices ``pos``, zero outside."""
    n = row.shape[-1]
    padded = jnp.pad(row, (2, 2))
    i0f = jnp.floor(pos)
    frac = pos - i0f
    i0 = jnp.clip(i0f.astype(jnp.int32), -2, n) + 2
    return (1 - frac) * padded[i0] + frac * padded[i0 + 1]


def _fbp_fan(op: RayProjector2D, sino, filter, frequency_scaling, upsample):
    dt = op.in_dtype
    r_s, r_d = op.source_origin, op.origin_det
    n_angles, n_det = sino.shape
    k = jnp.arange(n_det, dtype=dt)
    u = (k - 0.5 * (n_det - 1)) * op.det_spacing + op.det_offset
    response = ramp_filter(n_det, filter, frequency_scaling)
    if op.kind == "flat":
        # rescale to the virtual detector through the origin, cosine-weight, filter
        du = op.det_spacing * r_s / (r_s + r_d)
        u0 = u * r_s / (r_s + r_d)
        weighted = sino * (r_s / jnp.sqrt(r_s**2 + u0**2))[None, :]
        q = 0.5 * _filter_rows(weighted, response, upsample) / du
    else:
        dg = op.det_spacing / (r_s + r_d)
        gamma = u / (r_s + r_d)
        weighted = sino * (r_s * jnp.cos(gamma))[None, :]
        kernel = np.real(np.fft.ifft(response))
        n_pad = kernel.shape[0]
        idx = np.concatenate([np.arange(0, n_pad // 2 + 1), np.arange(-(n_pad // 2) + 1, 0)])
        arg = idx * dg
        factor = np.where(idx == 0, 1.0, (arg / np.where(idx == 0, 1.0, np.sin(arg))) ** 2)
        q = 0.5 * _filter_rows(weighted, np.real(np.fft.fft(kernel * factor)), upsample) / dg
    x, y = _pixel_grid(op.image_shape, op.pixel_size, dt)
    d_beta = 2.0 * np.pi / n_angles
    center = 0.5 * (n_det - 1) - op.det_offset / op.det_spacing  # bin index of u = 0

    def one(carry, inputs):
        theta, row = inputs
        c, s = jnp.cos(theta), jnp.sin(theta)
        along = x * c + y * s  # r · e
        depth = r_s - (-x * s + y * c)  # distance from the source along the central ray
        if op.kind == "flat":
            pos = (along * r_s / depth) / du + center
            weight = (r_s / depth) ** 2
        else:
            pos = jnp.arctan2(along, depth) / dg + center
            weight = 1.0 / (along**2 + depth**2)
        return carry + weight * _interp1(row, pos * upsample), None

    img, _ = jax.lax.scan(one, jnp.zeros(op.image_shape, dt), (op.angles.astype(dt), q))
    return (d_beta * img).astype(dt)


def fdk(
    op: ConeBeam, proj: jax.Array, filter: str = "ram-lak", frequency_scaling: float = 1.0
) -> jax.Array:
    """Feldkamp-Davis-Kress reconstruction for :func:`operators.ct.cone_beam` (full 2π scan)."""
    if not isinstance(op, ConeBeam):
        raise ValueError(f"fdk needs a cone_beam operator, found {op!r}")
    proj = _check_sino(op, proj)
    dt = op.in_dtype
    r_s, r_d = op.source_origin, op.origin_det
    n_views, n_v, n_u = proj.shape
    dv, du = op.det_spacing
    mag = r_s / (r_s + r_d)
    u0 = (jnp.arange(n_u, dtype=dt) - 0.5 * (n_u - 1)) * du * mag
    v0 = (jnp.arange(n_v, dtype=dt) - 0.5 * (n_v - 1)) * dv * mag
    weight = r_s / jnp.sqrt(r_s**2 + u0[None, :] ** 2 + v0[:, None] ** 2)
    q = 0.5 * filter_sinogram(proj * weight[None], filter, frequency_scaling, du * mag)
    d, h, w = op.volume_shape
    p = op.voxel_size
    x, y = _pixel_grid((h, w), p, dt)
    z = (jnp.arange(d, dtype=dt) - 0.5 * (d - 1)) * p

    def one(carry, inputs):
        beta, view = inputs  # view (n_v, n_u)
        c, s = jnp.cos(beta), jnp.sin(beta)
        along = x * c + y * s
        depth = r_s - (-x * s + y * c)
        scale = r_s / depth  # (H, W) magnification onto the virtual detector
        upos = along * scale / (du * mag) + 0.5 * (n_u - 1)
        # interpolate each detector row along u at every (x, y): (n_v, H, W)
        cols = jax.vmap(lambda r: _interp1(r, upos))(view)
        vpos = z[:, None, None] * scale[None] / (dv * mag) + 0.5 * (n_v - 1)  # (D, H, W)
        padded = jnp.pad(cols, ((2, 2), (0, 0), (0, 0)))
        i0f = jnp.floor(vpos)
        frac = vpos - i0f
        i0 = jnp.clip(i0f.astype(jnp.int32), -2, n_v) + 2
        a0 = jnp.take_along_axis(padded, i0, axis=0)
        a1 = jnp.take_along_axis(padded, i0 + 1, axis=0)
        vals = (1 - frac) * a0 + frac * a1
        return carry + (scale**2)[None] * vals, None

    vol, _ = jax.lax.scan(one, jnp.zeros((d, h, w), dt), (op.angles.astype(dt), q))
    return ((2.0 * np.pi / n_views) * vol).astype(dt)
