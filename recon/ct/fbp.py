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
band-limitedly onto a finer grid first (sharper, but more ringing on sharp phantoms).

Against ``iradon`` (same filter kernel, padding and interpolation): at odd ``N`` both use the same
pixel grid and detector centre, and on the same sinogram the PSNRs agree to 1e-3 dB. At even
``N`` no sinogram is in both detector conventions: ``iradon`` rotates about pixel ``N // 2`` and
reads bin ``n // 2`` as the axis, ours rotate about the pixel corner ``(N-1)/2`` with the axis at
bin ``(n-1)/2``. Fed iradon's array (``det_offset = -0.5``), our pixel centres project half-way
between bins at 0° and 90° (linear interpolation then averages two bins: -0.14 dB at 256²) and
the phantom centred on the axis sits on a pixel corner of our grid but on a pixel centre of
iradon's (a different rasterisation with a different attainable PSNR). Put both in the same
situation (each fed its own detector convention, the phantom placed identically on both pixel
lattices) and ours is ahead at every placement we measured (+0.005 to +0.15 dB at 128² and 256²;
``tests/recon/test_ct_recon.py`` and ``recon bench ct``).

Fan beam and FDK use a pixel-driven weighted backprojection with linear (FDK: bilinear) detector
interpolation, in JAX (gathers, ``lax.scan`` over views), with the geometry of
:func:`operators.ct.fan_beam` / :func:`operators.ct.cone_beam` (read from the operator's
attributes only). A full 2π scan weights every view by 1/2; a short scan (at least π + 2γ_max,
γ_max the half fan angle) gets Parker's weights (:func:`parker_weights`, :func:`scan_weights`),
for FDK per detector column, before the ramp filter.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from operators.ct.parallel import ParallelBeam

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


def parker_weights(t, gamma, scan_range):
    """Parker's short-scan redundancy weights ``w(t, γ)`` (D. L. Parker, "Optimal short scan
    convolution reconstruction for fanbeam CT", Med. Phys. 9(2), 1982).

    ``t``: position of the view along the scan, measured from its start in the direction of
    rotation (radians, ``0 <= t <= B``); ``gamma``: fan angle of the ray, positive towards the
    direction of rotation; ``scan_range``: ``B = π + 2δ`` with ``δ >= max |γ|``. In this
    convention the ray ``(t, γ)`` is measured again at ``(t + π + 2γ, -γ)`` (in the geometry of
    :func:`operators.ct.fan_beam` the fan ray ``(θ, γ)`` is the parallel ray ``φ = θ + γ``,
    ``s = R_s sin γ``, and ``p(φ + π, -s) = p(φ, s)``). With ``S(x) = sin²(π x / 2)`` on
    ``[0, 1]`` (0 below, 1 above)::

        w = S(t / (2 (δ - γ))) · S((B - t) / (2 (δ + γ)))

    which is Parker's piecewise form (``sin²(π/4 · t / (δ - γ))`` where ``t < 2 (δ - γ)``,
    ``sin²(π/4 · (B - t) / (δ + γ))`` where ``t > π - 2γ``, 1 between); the two ramps never
    overlap for ``B <= 2π``, and ``w(t, γ) + w(t + π + 2γ, -γ) = 1`` wherever both views exist.
    For ``B > π + 2 γ_max`` (over-scan) ``δ = (B - π) / 2`` widens the ramps, the same formula
    with Parker's ``δ`` taken from the scan, not from the fan (the ``q = 1`` case of Wesarg,
    Ebert and Bortfeld, "Parker weights revisited", Med. Phys. 29(3), 2002). Works on numpy or
    JAX arrays (broadcasting ``t`` against ``gamma``).
    """
    # numpy in, numpy out (weights fixed at trace time); JAX arrays or tracers in, JAX out
    xp = jnp if any(isinstance(v, jax.Array) for v in (t, gamma, scan_range)) else np
    t = xp.asarray(t)
    if not xp.issubdtype(t.dtype, xp.floating):
        t = t.astype(np.float64 if xp is np else jnp.result_type(float))
    gamma = xp.asarray(gamma, t.dtype)
    b = xp.asarray(scan_range, t.dtype)
    delta = 0.5 * (b - np.pi)
    tiny = xp.asarray(np.finfo(np.dtype(t.dtype)).tiny, t.dtype)

    def ramp(x):
        return xp.sin(0.5 * np.pi * xp.clip(x, 0.0, 1.0)) ** 2

    start = ramp(t / xp.maximum(2.0 * (delta - gamma), tiny))
    end = ramp((b - t) / xp.maximum(2.0 * (delta + gamma), tiny))
    return start * end


def _concrete(x) -> np.ndarray | None:
    try:
        return np.asarray(x, dtype=np.float64)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def scan_weights(angles, gamma: np.ndarray, short_scan: bool | None = None):
    """Redundancy weights ``W (n_views, n_gamma)`` and the angular step ``Δβ`` of fan/cone FBP.

    ``angles`` must be evenly spaced (increasing or decreasing, any start); the scan range is
    ``B = n_views · |Δ|`` (each view stands for one step, so ``linspace(0, B, n,
    endpoint=False)`` covers ``B``). ``gamma``: fan angle of each detector column (towards
    ``+e`` of :func:`operators.ct.fan_beam`); ``γ_max = max |γ|``.

    - ``short_scan=None`` (default): Parker weights (:func:`parker_weights`) when ``B < 2π``,
      else uniform weights ``1/2`` with ``Δβ = 2π / n_views`` (every ray measured twice per turn:
      exact for whole rotations). ASTRA (``option.ShortScan``), TIGRE (``parker``) and ODL
      (``parker_weighting``) make the user ask for Parker weighting; a short scan without it is
      simply wrong (the rays measured twice count double), so, as Sinograms.jl does from its
      orbit, we read it off the angles.
    - ``short_scan=True``: Parker weights for any ``B <= 2π`` (at ``B = 2π`` they are the
      over-scan weights, equivalent up to discretisation to the uniform ones).
    - ``short_scan=False``: uniform weights whatever the range (what ASTRA and TIGRE do by
      default).

    Parker weights need ``B >= π + 2 γ_max``: fewer views raise a ``ValueError`` naming the
    minimum. Under ``jit`` with the operator itself traced (its angles unknown at trace time)
    the checks cannot run and the full/short choice is made on device from the same rule.
    """
    ang = jnp.asarray(angles)
    n = int(ang.shape[0])
    gamma = np.asarray(gamma, dtype=np.float64)
    if n < 2:
        raise ValueError(f"fan/cone-beam FBP needs at least 2 evenly spaced views, found {n}")
    tol = 1e-3  # of one angular step: rounding of float32 angles, far below any real gap
    two_pi = 2.0 * np.pi
    gamma_max = float(np.max(np.abs(gamma)))
    a = _concrete(ang)
    if a is not None:
        steps = np.diff(a)
        step = (a[-1] - a[0]) / (n - 1)
        if step == 0 or np.max(np.abs(steps - step)) > tol * abs(step) + 1e-6:
            raise ValueError(
                "fan/cone-beam FBP needs evenly spaced angles (increasing or decreasing); "
                f"found steps from {steps.min():.6g} to {steps.max():.6g} rad"
            )
        b = n * abs(step)
        if short_scan is None:
            parker = b < two_pi - tol * abs(step)
        elif short_scan:
            if b > two_pi + tol * abs(step):
                raise ValueError(
                    f"short_scan=True needs a scan of at most 2π rad, found {b:.6g} rad "
                    f"({n} views x {abs(step):.6g} rad)"
                )
            parker = True
        else:
            parker = False
        minimum = np.pi + 2.0 * gamma_max
        if parker and b < minimum - tol * abs(step):
            raise ValueError(
                f"a short scan needs views over at least π + 2γ_max = {minimum:.6g} rad "
                f"({np.rad2deg(minimum):.2f}°, γ_max = {gamma_max:.6g} rad the half fan angle); "
                f"found {b:.6g} rad ({n} views x {abs(step):.6g} rad): add "
                f"{int(np.ceil((minimum - b) / abs(step) - tol))} views or use a full 2π scan"
            )
        dt = np.result_type(ang.dtype, np.float32)
        if not parker:
            return np.full((n, gamma.size), 0.5, dt), two_pi / n
        t = (np.arange(n) + 0.5) * abs(step)
        w = parker_weights(t[:, None], np.sign(step) * gamma[None, :], b)
        return np.asarray(w, dtype=dt), abs(step)
    # traced angles: the same rule, evaluated on device, without the checks
    step = (ang[-1] - ang[0]) / (n - 1)
    b = n * jnp.abs(step)
    t = (jnp.arange(n, dtype=ang.dtype) + 0.5) * jnp.abs(step)
    w = parker_weights(t[:, None], jnp.sign(step) * jnp.asarray(gamma, ang.dtype)[None, :], b)
    if short_scan is False:
        return jnp.full(w.shape, 0.5, ang.dtype), two_pi / n
    parker = jnp.asarray(True) if short_scan else b < two_pi - tol * jnp.abs(step)
    return jnp.where(parker, w, 0.5), jnp.where(parker, jnp.abs(step), two_pi / n)


def _check_sino(op, sino) -> jax.Array:
    sino = jnp.asarray(sino)
    if tuple(sino.shape) != tuple(op.out_shape):
        raise ValueError(
            f"sinogram has shape {tuple(sino.shape)}, the geometry expects {tuple(op.out_shape)}"
        )
    if not jnp.issubdtype(sino.dtype, jnp.floating):
        raise ValueError(f"sinogram must be real floating point, found dtype {sino.dtype}")
    return sino.astype(op.out_dtype)


def _is_parallel(op) -> bool:
    return isinstance(op, ParallelBeam) or getattr(op, "kind", None) == "parallel"


def _is_fan(op) -> bool:
    """Any 2-D fan-beam operator: dispatch on the geometry attributes, not the class (the fan
    projector's engine may change; FBP only reads its geometry)."""
    return getattr(op, "kind", None) in ("flat", "arc") and hasattr(op, "source_origin")


def _is_cone(op) -> bool:
    return all(hasattr(op, a) for a in ("volume_shape", "det_shape", "source_origin", "angles"))


def fbp(
    op,
    sino: jax.Array,
    filter: str = "ram-lak",
    frequency_scaling: float = 1.0,
    upsample: int = UPSAMPLE,
    short_scan: bool | None = None,
) -> jax.Array:
    """Filtered backprojection for the geometry of ``op`` (parallel, fan flat/arc, or cone: FDK).

    Parallel beam needs angles evenly covering π (or 2π). Fan and cone beam need evenly spaced
    views (increasing or decreasing, any start) over at least ``π + 2γ_max``; scans shorter than
    2π get Parker's redundancy weights (``short_scan``: see :func:`scan_weights`). Returns an
    image of ``op.in_shape``.
    """
    if _is_parallel(op):
        sino = _check_sino(op, sino)
        return _fbp_parallel(op, sino, filter, frequency_scaling, upsample)
    if _is_fan(op):
        sino = _check_sino(op, sino)
        return _fbp_fan(op, sino, filter, frequency_scaling, upsample, short_scan)
    if _is_cone(op):
        return fdk(op, sino, filter, frequency_scaling, short_scan)
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


def _fbp_fan(op, sino, filter, frequency_scaling, upsample, short_scan):
    dt = op.in_dtype
    r_s, r_d = op.source_origin, op.origin_det
    n_det = sino.shape[1]
    u = (np.arange(n_det) - 0.5 * (n_det - 1)) * op.det_spacing + op.det_offset
    response = ramp_filter(n_det, filter, frequency_scaling)
    if op.kind == "flat":
        gamma = np.arctan(u / (r_s + r_d))
        # rescale to the virtual detector through the origin, cosine-weight, filter
        du = op.det_spacing * r_s / (r_s + r_d)
        u0 = u * r_s / (r_s + r_d)
        weights, d_beta = scan_weights(op.angles, gamma, short_scan)
        weighted = sino * (weights * (r_s / np.sqrt(r_s**2 + u0**2))[None, :]).astype(dt)
        q = _filter_rows(weighted, response, upsample) / du
    else:
        gamma = u / (r_s + r_d)
        dg = op.det_spacing / (r_s + r_d)
        weights, d_beta = scan_weights(op.angles, gamma, short_scan)
        weighted = sino * (weights * (r_s * np.cos(gamma))[None, :]).astype(dt)
        kernel = np.real(np.fft.ifft(response))
        n_pad = kernel.shape[0]
        idx = np.concatenate([np.arange(0, n_pad // 2 + 1), np.arange(-(n_pad // 2) + 1, 0)])
        arg = idx * dg
        factor = np.where(idx == 0, 1.0, (arg / np.where(idx == 0, 1.0, np.sin(arg))) ** 2)
        q = _filter_rows(weighted, np.real(np.fft.fft(kernel * factor)), upsample) / dg
    x, y = _pixel_grid(op.image_shape, op.pixel_size, dt)
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
            pos = jnp.arctan(along / depth) / dg + center  # depth > 0; 3x cheaper than arctan2
            weight = 1.0 / (along**2 + depth**2)
        return carry + weight * _interp1(row, pos * upsample), None

    img, _ = jax.lax.scan(one, jnp.zeros(op.image_shape, dt), (op.angles.astype(dt), q))
    return (d_beta * img).astype(dt)


def fdk(
    op,
    proj: jax.Array,
    filter: str = "ram-lak",
    frequency_scaling: float = 1.0,
    short_scan: bool | None = None,
) -> jax.Array:
    """Feldkamp-Davis-Kress reconstruction for :func:`operators.ct.cone_beam`: a full 2π scan,
    or a short scan over at least ``π + 2γ_max`` with Parker's weights applied per detector
    column (the fan angle of column ``u`` is ``atan(u / (R_s + R_d))``; ``short_scan``: see
    :func:`scan_weights`)."""
    if not _is_cone(op):
        raise ValueError(f"fdk needs a cone_beam operator, found {op!r}")
    proj = _check_sino(op, proj)
    dt = op.in_dtype
    r_s, r_d = op.source_origin, op.origin_det
    _, n_v, n_u = proj.shape
    dv, du = op.det_spacing
    mag = r_s / (r_s + r_d)
    u0 = (np.arange(n_u) - 0.5 * (n_u - 1)) * du * mag
    v0 = (np.arange(n_v) - 0.5 * (n_v - 1)) * dv * mag
    weights, d_beta = scan_weights(op.angles, np.arctan(u0 / r_s), short_scan)  # (views, n_u)
    cosine = r_s / np.sqrt(r_s**2 + u0[None, :] ** 2 + v0[:, None] ** 2)  # (n_v, n_u)
    weighted = proj * (weights[:, None, :] * cosine[None]).astype(dt)
    q = filter_sinogram(weighted, filter, frequency_scaling, du * mag)
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
    return (d_beta * vol).astype(dt)
