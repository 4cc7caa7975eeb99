"""Fan-beam projector (flat or equiangular arc detector) with an exact adjoint.

Geometry (same frame as :mod:`operators.ct.parallel`): at angle θ let ``e = (cos θ, sin θ)`` and
``e⊥ = (-sin θ, cos θ)``. The source is at ``+source_origin · e⊥``; the detector centre at
``-origin_det · e⊥``. Detector position ``u_k = (k - (n_det-1)/2) · det_spacing + det_offset``:

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

Two models (``method=``):

- ``"rebin"`` (default; CPU and GPU): the fan ray to bin ``k`` at angle ``θ`` is the parallel ray
  with angle ``φ = θ + γ_k`` and offset ``s = source_origin · sin γ_k``
  (``tan γ_k = u_k / (source_origin + origin_det)`` for a flat detector), and
  ``p(φ + π, s) = p(φ, -s)``. We compute a finely sampled parallel sinogram over ``[0, π)`` with
  the Fourier-slice projector (:func:`operators.ct.parallel_beam`: band-limited pixel model on a
  NUFFT) and interpolate it bilinearly in ``(φ, s)`` at every fan ray (the classic fan-to-parallel
  rebinning, Kak & Slaney 1988 §3.4, run in the other direction). The parallel grid has
  ``parallel_angles`` angles and bin spacing ``pixel_size / s_oversample``; with the defaults the
  interpolation changes a sharp Shepp-Logan sinogram by about 1e-3 (relative L2, measured in
  ``tests/operators/test_ct.py``). Both steps are linear JAX maps with exact transposes, so
  ``A.H`` is the exact adjoint of this model and gradients flow through both. Why not ray-driven:
  on CPU, XLA's gathers make Joseph's method 2-3x slower than ASTRA's C++, this model is faster
  than ASTRA (BENCHMARKS.md).
- ``"ray"``: Joseph's method in pure JAX (:mod:`operators.ct.raydriven`); runs anywhere (TPU:
  jax-finufft has no TPU kernels), same geometry.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from operators.ct._checks import (
    check_angles,
    check_count,
    check_finite,
    check_positive,
    check_real_dtype,
    check_shape,
)
from operators.ct.parallel import ParallelBeam
from operators.ct.raydriven import RayProjector2D
from operators.linop import LinearOperator

S_OVERSAMPLE = 4  # parallel bins per pixel in the rebinned model


@jax.jit
def _forward_jit(op, x):
    return op._forward(x)


@jax.jit
def _adjoint_jit(op, y):
    transpose = jax.linear_transpose(op._forward, jax.ShapeDtypeStruct(op.in_shape, op.in_dtype))
    (x,) = transpose(y.astype(op.out_dtype))
    return x


class FanBeam(LinearOperator):
    """Fan-beam projector ``(H, W) -> (n_angles, det_count)`` by rebinning a fine parallel-beam
    Fourier-slice sinogram (module docstring)."""

    angles: jax.Array
    image_shape: tuple[int, int] = struct.field(pytree_node=False)
    det_count: int = struct.field(pytree_node=False)
    kind: str = struct.field(pytree_node=False)  # "flat" or "arc"
    source_origin: float = struct.field(pytree_node=False)
    origin_det: float = struct.field(pytree_node=False)
    det_spacing: float = struct.field(pytree_node=False, default=1.0)
    det_offset: float = struct.field(pytree_node=False, default=0.0)
    pixel_size: float = struct.field(pytree_node=False, default=1.0)
    dtype: np.dtype = struct.field(pytree_node=False, default=np.dtype(np.float32))
    parallel_angles: int = struct.field(pytree_node=False, default=360)
    s_oversample: int = struct.field(pytree_node=False, default=S_OVERSAMPLE)
    eps: float = struct.field(pytree_node=False, default=1e-6)

    rays = RayProjector2D.rays  # the geometry: source points and ray directions of one view

    @property
    def in_shape(self) -> tuple[int, int]:
        return tuple(self.image_shape)

    @property
    def out_shape(self) -> tuple[int, int]:
        return (int(self.angles.shape[0]), self.det_count)

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    out_dtype = in_dtype

    @property
    def parallel(self) -> ParallelBeam:
        """The fine parallel-beam projector over ``[0, π)`` that the fan rays are read from."""
        bin_spacing = self.pixel_size / self.s_oversample
        reach = 0.5 * math.hypot(*self.image_shape) * self.pixel_size + 2.0 * self.pixel_size
        n_bins = 2 * math.ceil(reach / bin_spacing) + 1
        n = self.parallel_angles
        return ParallelBeam(
            angles=jnp.arange(n, dtype=self.in_dtype) * (np.pi / n),
            image_shape=tuple(self.image_shape),
            det_count=n_bins,
            det_spacing=bin_spacing,
            pixel_size=self.pixel_size,
            dtype=self.in_dtype,
            eps=self.eps,
        )

    def fan_angles(self) -> jax.Array:
        """Fan angle ``γ_k`` of every bin (radians, towards ``+e``)."""
        dt = self.in_dtype
        u = (
            jnp.arange(self.det_count, dtype=dt) - 0.5 * (self.det_count - 1)
        ) * self.det_spacing + self.det_offset
        dist = self.source_origin + self.origin_det
        return jnp.arctan(u / dist) if self.kind == "flat" else u / dist

    def _taps(self, parallel: ParallelBeam) -> tuple[jax.Array, jax.Array]:
        """Flat indices into the parallel sinogram and bilinear weights, ``(views, bins, 4)``."""
        n_phi, n_s = parallel.out_shape
        d_phi, d_s = np.pi / n_phi, parallel.det_spacing
        gamma = self.fan_angles()[None, :]
        phi = jnp.mod(self.angles.astype(self.in_dtype)[:, None] + gamma, 2 * np.pi) / d_phi
        s = jnp.broadcast_to(self.source_origin * jnp.sin(gamma), phi.shape)
        j0f = jnp.floor(phi)
        w_phi = phi - j0f
        j0 = j0f.astype(jnp.int32)
        index, weight = [], []
        for dj, wj in ((0, 1.0 - w_phi), (1, w_phi)):
            j = jnp.mod(j0 + dj, 2 * n_phi)
            flipped = j >= n_phi  # p(φ + π, s) = p(φ, -s)
            j = jnp.where(flipped, j - n_phi, j)
            pos = jnp.where(flipped, -s, s) / d_s + 0.5 * (n_s - 1)
            i0f = jnp.floor(pos)
            w_s = pos - i0f
            i0 = i0f.astype(jnp.int32)
            for di, wi in ((0, 1.0 - w_s), (1, w_s)):
                i = i0 + di
                inside = (i >= 0) & (i < n_s)
                index.append(j * n_s + jnp.clip(i, 0, n_s - 1))
                weight.append(jnp.where(inside, wj * wi, 0.0))
        return jnp.stack(index, -1), jnp.stack(weight, -1).astype(self.in_dtype)

    def _forward(self, img: jax.Array) -> jax.Array:
        parallel = self.parallel
        index, weight = self._taps(parallel)
        sino = parallel._forward(img).ravel()
        out = jnp.sum(sino.at[index].get(mode="promise_in_bounds") * weight, axis=-1)
        return out.astype(self.out_dtype)

    def _apply(self, x: jax.Array) -> jax.Array:
        return _forward_jit(self, x)

    def _adjoint(self, y: jax.Array) -> jax.Array:
        return _adjoint_jit(self, y)


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
    method: str = "rebin",
    parallel_angles: int | None = None,
    eps: float | None = None,
    chunk: int = 1,
) -> FanBeam | RayProjector2D:
    """Fan-beam projector ``img (H, W) -> sino (n_angles, det_count)`` (conventions above).

    ``method="rebin"`` (default) or ``"ray"`` (module docstring). For ``"rebin"``:
    ``parallel_angles`` is the number of parallel views over π (default: enough that the image's
    corner moves at most one pixel between views, and at least ``len(angles) / 2``), ``eps`` the
    NUFFT tolerance (default 1e-6 for float32, 1e-10 for float64). ``chunk`` (``"ray"``): views
    projected at once.
    """
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
    geometry = dict(
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
    )
    if method == "ray":
        return RayProjector2D(**geometry, chunk=check_count("chunk", chunk))
    if method != "rebin":
        raise ValueError(f"method must be 'rebin' or 'ray', found {method!r}")
    if parallel_angles is None:
        parallel_angles = max(math.ceil(np.pi * radius / pixel_size), math.ceil(len(angles) / 2))
    if eps is None:
        eps = 1e-6 if dtype == np.float32 else 1e-10
    return FanBeam(
        **geometry,
        parallel_angles=check_count("parallel_angles", parallel_angles),
        eps=float(eps),
    )
