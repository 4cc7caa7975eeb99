"""Synthetic complex brain MR images from the MNI ICBM152 2009a template shipped in nilearn's wheel.

Source volumes (read with nibabel, never downloaded): ``mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_
converted.nii.gz`` in ``nilearn/datasets/data`` (197x233x189, 1 mm, skull-stripped T1). The wheel
carries no CSF map, so CSF is taken as ``clip(brain_mask - GM - WM, 0, 1)``, mask ``T1 > 0``.
Copyright notice of the template (it must travel with copies and derived files)::

    Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal Neurological
    Institute, McGill University. Permission to use, copy, modify, and distribute this software
    and its documentation for any purpose and without fee is hereby granted, provided that the
    above copyright notice appear in all copies. The authors and McGill University make no
    representations about the suitability of this software for any purpose. It is provided "as
    is" without express or implied warranty. The authors are not responsible for any data loss,
    equipment damage, property loss, or injury to subjects or patients resulting from the use or
    misuse of this software package.

Each training image is one ``patch x patch`` plane sampled from the volumes (``jax.scipy.ndimage.
map_coordinates``, linear) with, per image and from explicit keys:

- orientation axial / coronal / sagittal, random centre, flips of both in-plane axes, in-plane
  rotation (+-15 deg) and scale (0.8-1.25 mm per pixel);
- elastic deformation: a smooth displacement field (bilinear upsampling of a 5x5 Gaussian grid,
  amplitude up to 3 px);
- contrast randomisation in the spirit of SynthSeg (Billot et al. 2023): with probability 0.7 a
  random intensity ``U(0, 1)`` per tissue (GM, WM, CSF) mixed by the tissue probabilities, otherwise
  the T1 template raised to a random gamma;
- a multiplicative bias field ``exp(b)`` (b from a 4x4 Gaussian grid), a global scale so the
  magnitude lies in [0, 1], and a smooth random phase (constant + 3x3-grid field up to +-pi).

With ``BrainSource(synthseg=True)`` (off by default, so the shipped priors' configs are unchanged)
each plane is instead synthesised SynthSeg-style from the tissue maps taken as a label map, plus
what real scans have and the template lacks (:func:`synthesize_synthseg`): a second, stronger
elastic deformation of the sampled plane (in-plane, so the held-out slab below stays unread); a
random Gaussian intensity per label (background, GM, WM, CSF, skull, scalp: mean and standard
deviation, so T1-, T2- and PD-like and unnatural contrasts all occur) mixed by the tissue
probabilities (partial volume) and slightly blurred (texture), where CSF rim, skull and scalp are
shells of random thickness at random distances outside the brain mask (the template is
skull-stripped; three in four images get them); lesion-like blobs in the tissue and bright
vessel-like curved segments; bias field; coil shading (root-sum-of-squares of a few simulated
surface-coil sensitivities); smooth phase; then in k-space Gibbs ringing (truncation to a random
central fraction per axis), partial Fourier (a random side fraction of the phase-encode lines
zeroed) and complex noise. The T1 template itself is never used as an intensity there.
``synthseg_fraction`` mixes the two kinds of images per draw.

Held-out slab: the axial planes ``z in [HOLDOUT_Z0, HOLDOUT_Z1)`` (voxel indices) are never read by
training in any orientation: axial training planes stay outside the band, and coronal/sagittal
training planes have every sample point's z clipped to lie below the band (linear interpolation
reads voxels ``floor(z)`` and ``floor(z) + 1``, so ``z <= HOLDOUT_Z0 - 1.5`` suffices) or above it
(``z >= HOLDOUT_Z1 + 0.5``). :func:`sample_coords` exposes the sample points for tests;
:func:`heldout_slices` returns images from the band for evaluation.
"""

from __future__ import annotations

import functools
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

HOLDOUT_Z0, HOLDOUT_Z1 = 80, 92
_Z_BELOW_MAX = HOLDOUT_Z0 - 1.5
_Z_ABOVE_MIN = HOLDOUT_Z1 + 0.5
HEAD_MM = 32.0  # how far outside the brain the head-layer coordinate reaches (mm)
_FILES = {k: f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in ("t1", "gm", "wm")}


def template_dir() -> pathlib.Path:
    """The folder of nilearn's packaged data holding the ICBM152 2009a volumes."""
    import nilearn

    return pathlib.Path(os.path.dirname(nilearn.__file__)) / "datasets" / "data"


@functools.lru_cache(maxsize=1)
def load_volumes() -> np.ndarray:
    """``(5, 197, 233, 189)`` float32: GM, WM, CSF probabilities, T1 normalised to [0, 1], and
    the head-layer coordinate ``clip(1 - d / HEAD_MM, 0, 1)`` with ``d`` the Euclidean distance
    (mm) from the brain mask (1 inside the brain, 0 from ``HEAD_MM`` outwards and outside the
    volume), from which :func:`synthesize_synthseg` draws CSF rim, skull and scalp."""
    import nibabel as nib
    from scipy.ndimage import distance_transform_edt

    d = template_dir()
    vols = {}
    for k, f in _FILES.items():
        if not (d / f).is_file():
            raise FileNotFoundError(f"{d / f} not found; it ships with the nilearn wheel")
        vols[k] = np.asarray(nib.load(str(d / f)).dataobj, dtype=np.float32)
    t1 = vols["t1"] / vols["t1"].max()
    gm, wm = vols["gm"] / 255.0, vols["wm"] / 255.0
    csf = np.clip((t1 > 0).astype(np.float32) - gm - wm, 0.0, 1.0)
    head = np.clip(1.0 - distance_transform_edt(t1 <= 0) / HEAD_MM, 0.0, 1.0)
    return np.stack([gm, wm, csf, t1, head]).astype(np.float32)


def _smooth_field(key: jax.Array, grid: int, size: int, channels: int = 1) -> jnp.ndarray:
    g = jax.random.normal(key, (grid, grid, channels), jnp.float32)
    return jax.image.resize(g, (size, size, channels), "bilinear")


def sample_coords(key: jax.Array, patch: int, shape: tuple[int, int, int]) -> jnp.ndarray:
    """``(3, patch, patch)`` voxel coordinates of one training plane (see module docstring)."""
    ko, kc, kz, kside, kf, kr, ks, ke, ka = jax.random.split(key, 9)
    nx, ny, _nz = shape
    orient = jax.random.randint(ko, (), 0, 3, dtype=jnp.int32)  # 0 axial, 1 coronal, 2 sagittal
    r = jnp.arange(patch, dtype=jnp.float32) - (patch - 1) / 2.0
    u, v = jnp.meshgrid(r, r, indexing="ij")
    disp = _smooth_field(ke, 5, patch, 2) * jax.random.uniform(
        ka, (), maxval=3.0, dtype=jnp.float32
    )
    u, v = u + disp[..., 0], v + disp[..., 1]
    flips = jnp.where(jax.random.bernoulli(kf, jnp.float32(0.5), (2,)), -1.0, 1.0)
    theta = jax.random.uniform(kr, (), minval=-np.pi / 12, maxval=np.pi / 12, dtype=jnp.float32)
    scale = jnp.exp(
        jax.random.uniform(ks, (), minval=np.log(0.8), maxval=np.log(1.25), dtype=jnp.float32)
    )
    c, s = jnp.cos(theta), jnp.sin(theta)
    pu = scale * flips[0] * (c * u - s * v)
    pv = scale * flips[1] * (s * u + c * v)
    cx, cy, cz_in = jax.random.uniform(kc, (3,), dtype=jnp.float32)
    # in-plane centres range over most of the volume (crops near the edge include background)
    x0, y0 = 35 + cx * (nx - 70), 35 + cy * (ny - 70)
    # axial planes: z from [8, Z0 - 1.5] or [Z1 + 0.5, 150]; the two ranges sized by length
    lo_len, hi_len = _Z_BELOW_MAX - 8.0, 150.0 - _Z_ABOVE_MIN
    t = jax.random.uniform(kz, (), dtype=jnp.float32) * (lo_len + hi_len)
    z_axial = jnp.where(t < lo_len, 8.0 + t, _Z_ABOVE_MIN + (t - lo_len))
    # coronal / sagittal planes: centre below or above the band, then z clipped to that side
    below = jax.random.bernoulli(kside, jnp.float32(lo_len / (lo_len + hi_len)))
    z_c = jnp.where(below, 8.0 + cz_in * (_Z_BELOW_MAX - 8.0), _Z_ABOVE_MIN + cz_in * hi_len)
    ones = jnp.ones_like(u)
    axial = jnp.stack([x0 + pu, y0 + pv, z_axial * ones])
    coronal = jnp.stack([x0 + pu, y0 * ones, z_c + pv])
    sagittal = jnp.stack([x0 * ones, y0 + pu, z_c + pv])
    coords = jnp.select([orient == 0, orient == 1], [axial, coronal], sagittal)
    z = coords[2]
    z_clipped = jnp.where(below, jnp.minimum(z, _Z_BELOW_MAX), jnp.maximum(z, _Z_ABOVE_MIN))
    return coords.at[2].set(jnp.where(orient == 0, z, z_clipped))


def _interp(vols: jnp.ndarray, coords: jnp.ndarray) -> jnp.ndarray:
    return jax.vmap(
        lambda vol: jax.scipy.ndimage.map_coordinates(vol, list(coords), order=1, mode="constant")
    )(vols)


def synthesize(key: jax.Array, maps: jnp.ndarray) -> jnp.ndarray:
    """Complex image from sampled maps ``(4, H, W)`` (GM, WM, CSF, T1); magnitude in [0, 1]."""
    kc, kt, kg, kb, kba, ksc, kp0, kp, kpa = jax.random.split(key, 9)
    size = maps.shape[-1]
    mu = jax.random.uniform(kc, (3,), dtype=jnp.float32)
    tissue = jnp.tensordot(mu, maps[:3], axes=1) / jnp.maximum(jnp.max(mu), 1e-3)
    gamma = jnp.exp(
        jax.random.uniform(kg, (), minval=np.log(0.6), maxval=np.log(1.6), dtype=jnp.float32)
    )
    t1 = jnp.clip(maps[3], 0.0, 1.0) ** gamma
    mag = jnp.where(jax.random.bernoulli(kt, jnp.float32(0.7)), tissue, t1)
    bias = _smooth_field(kb, 4, size)[..., 0] * jax.random.uniform(
        kba, (), maxval=0.3, dtype=jnp.float32
    )
    bias = jnp.exp(bias - jnp.max(bias))
    mag = jnp.clip(mag * bias, 0.0, 1.0) * jax.random.uniform(
        ksc, (), minval=0.7, maxval=1.0, dtype=jnp.float32
    )
    phase = jax.random.uniform(kp0, (), minval=-np.pi, maxval=np.pi, dtype=jnp.float32)
    phase = phase + _smooth_field(kp, 3, size)[..., 0] * jax.random.uniform(
        kpa, (), maxval=np.pi, dtype=jnp.float32
    )
    return (mag * jnp.exp(1j * phase)).astype(jnp.complex64)


def _warp(key: jax.Array, maps: jnp.ndarray, amplitude: float) -> jnp.ndarray:
    """``maps (C, S, S)`` warped by a smooth random displacement (3x3 grid) up to ``amplitude``
    pixels, bilinear, zero outside."""
    kd, ka = jax.random.split(key)
    size = maps.shape[-1]
    disp = _smooth_field(kd, 3, size, 2) * jax.random.uniform(ka, (), maxval=amplitude)
    r = jnp.arange(size, dtype=jnp.float32)
    u, v = jnp.meshgrid(r, r, indexing="ij")
    return _interp(maps, jnp.stack([u + disp[..., 0], v + disp[..., 1]]))


def _blobs(key: jax.Array, size: int, n: int, radius: tuple[float, float]) -> jnp.ndarray:
    """``(n, S, S)`` soft ellipses with random centres, axes in ``radius`` (pixels) and angles."""
    kc, kr, kt = jax.random.split(key, 3)
    centres = jax.random.uniform(kc, (n, 2), minval=0.15 * size, maxval=0.85 * size)
    radii = jax.random.uniform(kr, (n, 2), minval=radius[0], maxval=radius[1])
    theta = jax.random.uniform(kt, (n,), maxval=np.pi)
    r = jnp.arange(size, dtype=jnp.float32)
    u, v = jnp.meshgrid(r, r, indexing="ij")
    du, dv = u[None] - centres[:, 0, None, None], v[None] - centres[:, 1, None, None]
    c, s = jnp.cos(theta)[:, None, None], jnp.sin(theta)[:, None, None]
    a = (c * du + s * dv) / radii[:, 0, None, None]
    b = (-s * du + c * dv) / radii[:, 1, None, None]
    return jnp.exp(-((a**2 + b**2) ** 2))


def _vessels(key: jax.Array, size: int, n: int) -> jnp.ndarray:
    """``(S, S)`` in [0, 1]: ``n`` thin bright curved segments (a line bent by a smooth random
    offset, faded out along its length)."""
    kp, kt, kw, kb, ka, kl = jax.random.split(key, 6)
    r = jnp.arange(size, dtype=jnp.float32)
    u, v = jnp.meshgrid(r, r, indexing="ij")
    p = jax.random.uniform(kp, (n, 2), minval=0.2 * size, maxval=0.8 * size)
    theta = jax.random.uniform(kt, (n,), maxval=np.pi)[:, None, None]
    width = jax.random.uniform(kw, (n,), minval=0.5, maxval=1.3)[:, None, None]
    length = jax.random.uniform(kl, (n,), minval=0.05 * size, maxval=0.25 * size)[:, None, None]
    bend = jax.vmap(lambda k: _smooth_field(k, 4, size)[..., 0])(jax.random.split(kb, n))
    amp = jax.random.uniform(ka, (n,), maxval=0.05 * size)[:, None, None]
    du, dv = u[None] - p[:, 0, None, None], v[None] - p[:, 1, None, None]
    across = jnp.cos(theta) * du + jnp.sin(theta) * dv + amp * bend
    along = -jnp.sin(theta) * du + jnp.cos(theta) * dv
    seg = jnp.exp(-((across / width) ** 2) - (along / length) ** 4)
    return jnp.max(seg, axis=0)


def _blur(key: jax.Array, x: jnp.ndarray, max_sigma: float) -> jnp.ndarray:
    """Gaussian blur of a real ``(S, S)`` image with a random width up to ``max_sigma`` px, as a
    Gaussian taper in k-space."""
    size = x.shape[-1]
    sigma = jax.random.uniform(key, (), maxval=max_sigma)
    f = jnp.fft.fftfreq(size).astype(jnp.float32)
    g = jnp.exp(-2.0 * (np.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    return jnp.real(jnp.fft.ifft2(jnp.fft.fft2(x) * g))


def _head_layers(key: jax.Array, dist: jnp.ndarray, size: int) -> jnp.ndarray:
    """``(3, S, S)`` soft CSF rim, skull and scalp from ``dist`` (mm outside the brain): nested
    shells of random thickness (rim 0.5-3, skull 3-8, scalp 3-10 mm) whose borders wander by a
    smooth random field; all zero with probability 1/4 (a skull-stripped image)."""
    kt, kw, ka, kp = jax.random.split(key, 4)
    thick = jax.random.uniform(kt, (3,), minval=jnp.array([0.5, 3.0, 3.0]),
                               maxval=jnp.array([3.0, 8.0, 10.0]))
    wander = _smooth_field(kw, 4, size)[..., 0] * jax.random.uniform(ka, (), maxval=2.0)
    edges = jnp.cumsum(thick)[:, None, None] + wander[None]
    inside = jax.nn.sigmoid((edges - dist[None]) / 0.5)  # within rim, skull, scalp edge
    shells = jnp.concatenate([inside[:1], inside[1:] - inside[:-1]])
    return jnp.clip(shells, 0.0, 1.0) * jax.random.bernoulli(kp, 0.75)


def synthesize_synthseg(key: jax.Array, maps: jnp.ndarray) -> jnp.ndarray:
    """Complex ``(S, S)`` image, magnitude in [0, 1], from sampled maps ``(5, S, S)`` (GM, WM,
    CSF probabilities, T1, head-layer coordinate; the T1 channel is ignored) taken as a label
    map; see the module docstring. Same key, same image."""
    from operators.fft import fftc, ifftc

    keys = jax.random.split(key, 21)
    size = maps.shape[-1]
    warped = _warp(keys[0], maps[jnp.array([0, 1, 2, 4])], 5.0)
    tissue = warped[:3]
    brain = jnp.clip(jnp.sum(tissue, axis=0), 0.0, 1.0)
    layers = _head_layers(keys[20], HEAD_MM * (1.0 - warped[3]), size) * (1.0 - brain)
    outside = jnp.clip(1.0 - brain - jnp.sum(layers, axis=0), 0.0, 1.0)
    # labels: background, GM, WM, CSF, skull, scalp (the CSF rim is added to the CSF label)
    probs = jnp.concatenate([outside[None], tissue[:2], (tissue[2] + layers[0])[None],
                             layers[1:]])
    # Gaussian mixture: per-label mean and standard deviation (background kept low, skull
    # mostly dark as cortical bone is in most sequences, marrow and scalp fat anything)
    mu = jax.random.uniform(keys[1], (6,)) * jnp.array([0.15, 1.0, 1.0, 1.0, 0.6, 1.0])
    sd = jax.random.uniform(keys[2], (6,), maxval=0.06)
    noise = jax.random.normal(keys[3], (6, size, size))
    mag = jnp.sum(probs * (mu[:, None, None] + sd[:, None, None] * noise), axis=0)
    # lesion-like blobs inside the tissue (each present with probability 1/2)
    blobs = _blobs(keys[4], size, 3, (1.0, 0.06 * size + 1.0))
    blobs = blobs * jax.random.bernoulli(keys[5], 0.5, (3,))[:, None, None]
    blobs = blobs * (tissue[0] + tissue[1])[None]
    les_mu = jax.random.uniform(keys[6], (3,))
    for i in range(3):
        mag = mag * (1.0 - blobs[i]) + les_mu[i] * blobs[i]
    # bright vessel-like curves in the head, with probability 1/2
    vessel = _vessels(keys[7], size, 3) * brain * jax.random.bernoulli(keys[8], 0.5)
    vessel_mu = jax.random.uniform(keys[9], (), minval=0.6, maxval=1.0)
    mag = mag * (1.0 - vessel) + vessel_mu * vessel
    mag = jnp.clip(_blur(keys[10], mag, 1.0), 0.0, None)
    # bias field and coil shading (root-sum-of-squares of 4 surface coils around the plane)
    bias = _smooth_field(keys[11], 4, size)[..., 0] * jax.random.uniform(keys[12], (), maxval=0.4)
    angle = jax.random.uniform(keys[13], ()) * 2 * np.pi + jnp.arange(4) * np.pi / 2
    dist = jax.random.uniform(keys[14], (), minval=0.6, maxval=1.5) * size
    r = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
    u, v = jnp.meshgrid(r, r, indexing="ij")
    d2 = ((u[None] - dist * jnp.cos(angle)[:, None, None]) ** 2
          + (v[None] - dist * jnp.sin(angle)[:, None, None]) ** 2)
    shading = jnp.sqrt(jnp.sum(1.0 / (1.0 + d2 / (0.5 * size) ** 2), axis=0))
    shading = (shading / jnp.max(shading)) ** jax.random.uniform(keys[15], (), maxval=1.0)
    mag = mag * jnp.exp(bias - jnp.max(bias)) * shading
    mag = mag / jnp.maximum(jnp.max(mag), 1e-6)
    phase = jax.random.uniform(keys[16], (), minval=-np.pi, maxval=np.pi)
    phase = phase + _smooth_field(keys[17], 3, size)[..., 0] * jax.random.uniform(
        keys[18], (), maxval=np.pi)
    img = (mag * jnp.exp(1j * phase)).astype(jnp.complex64)
    # k-space: Gibbs (keep a central fraction 0.5-1 per axis, p = 1/2), partial Fourier (zero
    # up to 3/8 of the lines on one side of the last axis, p = 1/4), complex noise
    kk = jax.random.split(keys[19], 8)
    k = fftc(img)
    f = jnp.abs(jnp.fft.fftshift(jnp.fft.fftfreq(size)))
    keep = jnp.where(jax.random.bernoulli(kk[0], 0.5),
                     jax.random.uniform(kk[1], (2,), minval=0.5, maxval=1.0), 1.0)
    k = k * ((f[:, None] <= keep[0] / 2) & (f[None, :] <= keep[1] / 2))
    lines = jnp.arange(size)
    cut = jnp.floor(jax.random.uniform(kk[2], (), maxval=0.375) * size)
    cut = jnp.where(jax.random.bernoulli(kk[3], 0.25), cut, 0.0)
    k = k * (lines[None, :] >= cut)
    # noise: up to 2 % of the image's root-mean-square per real component
    sigma = jax.random.uniform(kk[4], (), maxval=0.02) * jnp.sqrt(jnp.mean(jnp.abs(k) ** 2))
    noise = jax.random.normal(kk[5], (2, size, size))
    k = k + sigma * (noise[0] + 1j * noise[1])
    img = ifftc(k).astype(jnp.complex64)
    scale = jax.random.uniform(kk[6], (), minval=0.7, maxval=1.0) / jnp.maximum(
        jnp.max(jnp.abs(img)), 1e-6)
    return (img * scale).astype(jnp.complex64)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _sample(vols: jnp.ndarray, key: jax.Array, n: int, patch: int,
            synthseg: float = 0.0) -> jnp.ndarray:
    """``n`` planes, each from :func:`synthesize_synthseg` with probability ``synthseg`` and
    from :func:`synthesize` otherwise (0 and 1 compile only the one that is used; a fraction in
    between computes both per image and keeps one, as a branch under vmap would)."""

    def one(k):
        kc, ks, kw = jax.random.split(k, 3)
        maps = _interp(vols, sample_coords(kc, patch, vols.shape[1:]))
        if synthseg <= 0.0:
            return synthesize(ks, maps)
        if synthseg >= 1.0:
            return synthesize_synthseg(ks, maps)
        return jnp.where(jax.random.bernoulli(kw, synthseg),
                         synthesize_synthseg(ks, maps), synthesize(ks, maps))

    return jax.vmap(one)(jax.random.split(key, n))


class BrainSource:
    """Synthetic complex brain planes: ``sample(key, B) -> (B, patch, patch)`` complex64;
    ``synthseg=True``: :func:`synthesize_synthseg` instead of :func:`synthesize` (module
    docstring) for a fraction ``synthseg_fraction`` of the images, drawn per image. Held-out
    images (:meth:`heldout`) are the same either way."""

    is_complex = True

    def __init__(self, patch: int = 64, heldout_seed: int = 123_456_789, synthseg: bool = False,
                 synthseg_fraction: float = 1.0):
        if patch < 8:
            raise ValueError(f"patch must be at least 8, got {patch}")
        if not 0.0 <= synthseg_fraction <= 1.0:
            raise ValueError(f"synthseg_fraction must lie in [0, 1], got {synthseg_fraction}")
        self.patch, self.heldout_seed = int(patch), int(heldout_seed)
        self.synthseg = bool(synthseg)
        self.synthseg_fraction = float(synthseg_fraction)
        self._vols = None

    @property
    def volumes(self) -> jnp.ndarray:
        if self._vols is None:
            self._vols = jnp.asarray(load_volumes())
        return self._vols

    def sample(self, key: jax.Array, batch_size: int) -> jnp.ndarray:
        fraction = self.synthseg_fraction if self.synthseg else 0.0
        return _sample(self.volumes, key, int(batch_size), self.patch, fraction)

    def heldout(self, n: int = 4) -> jnp.ndarray:
        """``n`` complex 192x224 images of axial planes in the held-out band, random contrast."""
        return heldout_slices(n, jax.random.key(self.heldout_seed))


def heldout_slices(n: int = 4, key: jax.Array | None = None, size: tuple[int, int] = (192, 224)):
    """``n`` complex64 images of axial planes in ``[HOLDOUT_Z0, HOLDOUT_Z1)`` (never trained on).

    Planes are spread evenly over the band, centre-cropped to ``size``; contrast, bias and phase are
    randomised with ``key`` as in training (default key fixed, so results are reproducible).
    """
    vols = load_volumes()
    key = jax.random.key(0) if key is None else key
    zs = np.linspace(HOLDOUT_Z0, HOLDOUT_Z1 - 1, n).round().astype(int)
    nx, ny = vols.shape[1:3]
    h, w = size
    if h > nx or w > ny:
        raise ValueError(f"size {size} exceeds the axial plane {(nx, ny)}")
    x0, y0 = (nx - h) // 2, (ny - w) // 2
    out = []
    for i, z in enumerate(zs):
        maps = jnp.asarray(vols[:, x0 : x0 + h, y0 : y0 + w, z])
        img = _synth_rect(jax.random.fold_in(key, i), maps)
        out.append(img)
    return jnp.stack(out)


@jax.jit
def _synth_rect(key: jax.Array, maps: jnp.ndarray) -> jnp.ndarray:
    h, w = maps.shape[1:]
    s = max(h, w)
    padded = jnp.pad(maps, ((0, 0), (0, s - h), (0, s - w)))
    return synthesize(key, padded)[:h, :w]
