"""Fast cone-beam projector: rotated-frame, separable resampling, with an exact adjoint.

Same geometry and sinogram layout as :mod:`operators.ct.cone` (circular orbit about z, flat
detector, ``proj[view, row, col]``); a different discretisation of the same line integrals than
Joseph's method (:class:`operators.ct.raydriven.ConeBeam`).

Model. The volume is the trilinear interpolant of its voxels (zero outside). For view β use the
rotated in-plane frame ``x' = P·e``, ``y' = P·e⊥`` (``e = (cos β, sin β)``, ``e⊥ = (-sin β,
cos β)``), in which the source is at ``(0, R, 0)`` (``R = source_origin``) and detector pixel
``(r, c)`` at ``(u_c, -R_d, v_r)``. The ray to that pixel crosses the plane ``y' = y_l`` at

    x' = u_c m_l,   z = v_r m_l,   m_l = (R - y_l) / (R + R_d),

one magnification per plane, shared by all detector rows and columns. We sample every ray on
``M`` equally spaced planes ``y_l = (l - (M-1)/2) p`` covering the disc in which the interpolant
can be non-zero (radius ``hypot(H+1, W+1) p / 2``; ``M`` has the parity of ``H``, so at β = 0
the planes are voxel rows), and sum with the ray length per plane,

    proj[r, c] = p sqrt(L² + u_c² + v_r²) / L · Σ_l f(x'_lc, y_l, z_lr),   L = R + R_d.

This is the Riemann sum of Joseph (P. M. Joseph, IEEE TMI 1(3):192-196, 1982) taken on planes of
the rotated frame, where the sample is bilinear in-plane (the planes are not voxel planes) and
linear in z. Because ``z_lr`` does not depend on the column, each plane's sampling separates:

1. in-plane: for each column ``c``, bilinearly blend the four z-columns around ``(x'_lc, y_l)``
   (gathers of contiguous ``D``-vectors, ``n_cols`` points per plane);
2. along z: resample that ``(D, n_cols)`` plane at the ``n_rows`` positions ``z_lr`` (gathers of
   contiguous rows of ``n_cols`` values, with indices shared by every column and every view).

Views are processed ``chunk`` at a time by ``lax.map`` and, inside, planes one at a time by
``lax.scan`` accumulating the projection, so intermediates are ``chunk x n_cols x D`` plus the
chunk's projections, whatever the number of planes or views. The backprojector is the exact
transpose of this program (``jax.linear_transpose``: gathers become scatter-adds of the same
contiguous slices, which XLA runs at near copy speed, unlike the ~850 M scalar scatter-adds of
the Joseph engine's transpose). Gradients flow through both. Pure JAX (no library resampler fits:
sigpy/scikit-image are not jit/grad-able), for jit, grad and TPU.

Compared with the Joseph engine on smooth volumes the two models agree to about 1e-3 relative
L2 (``tests/operators/test_ct.py``); both are second-order accurate approximations of the
line integrals of the trilinear interpolant.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from operators.ct.raydriven import ConeBeam

PAD = 2  # zero voxels added at both ends of every axis; clipped indices land in them


def _plane_count(h: int, w: int) -> int:
    """Number of sampling planes: cover the disc of radius ``hypot(h+1, w+1)/2`` (voxels) with
    unit spacing, centred, with the parity of ``h`` (planes on voxel rows at β = 0)."""
    half = 0.5 * math.hypot(h + 1, w + 1)
    m = 2 * math.ceil(half) + 1
    return m + 1 if (m - h) % 2 else m


def _columns(vol: jax.Array) -> jax.Array:
    """``((H+4) (W+4), D+4)``: the zero-padded volume as z-columns, row-major over (i, j)."""
    d, h, w = vol.shape
    cols = jnp.pad(vol.transpose(1, 2, 0), PAD)
    return cols.reshape((h + 2 * PAD) * (w + 2 * PAD), d + 2 * PAD)


@jax.jit
def _forward_jit(op, x):
    return op._forward(x)


@jax.jit
def _adjoint_jit(op, y):
    return op._backward(y)


def _z_taps(k0: np.ndarray, fz: np.ndarray, d: int, n_v: int) -> tuple[np.ndarray, np.ndarray]:
    """Transpose of the z-interpolation as a gather: for every plane ``l`` and voxel ``k``, the
    rows ``r`` with ``k0[l, r] in {k, k-1}`` and their weights ``1 - fz`` / ``fz`` (the same
    matrix entries as the forward), padded with row ``n_v`` (a zero row) and weight 0."""
    m = k0.shape[0]
    lists: list[list[list[tuple[int, float]]]] = [[[] for _ in range(d)] for _ in range(m)]
    for l_, r in zip(*np.nonzero((k0 >= -1) & (k0 < d)), strict=True):
        k = int(k0[l_, r])
        if k >= 0:
            lists[l_][k].append((int(r), 1.0 - float(fz[l_, r])))
        if k + 1 < d:
            lists[l_][k + 1].append((int(r), float(fz[l_, r])))
    taps = max(1, max(len(c) for plane in lists for c in plane))
    rows = np.full((m, d, taps), n_v, np.int32)
    weights = np.zeros((m, d, taps))
    for l_, plane in enumerate(lists):
        for k, entries in enumerate(plane):
            for t, (r, wt) in enumerate(entries):
                rows[l_, k, t], weights[l_, k, t] = r, wt
    return rows, weights


class ConeBeamRotated(ConeBeam):
    """Cone-beam projector by rotated-frame separable resampling (module docstring).

    A :class:`operators.ct.raydriven.ConeBeam` (same fields, geometry and FDK support) whose
    engine is replaced; ``chunk`` views are processed together (``lax.map`` over chunks).
    """

    chunk: int = struct.field(pytree_node=False, default=1)

    @property
    def n_planes(self) -> int:
        """Sampling planes per ray (``M`` in the module docstring)."""
        _, h, w = self.volume_shape
        return _plane_count(h, w)

    # -- static tables (numpy, float64; cast to the operator's dtype where used) --------------
    def _planes(self):
        """Plane positions ``y_l``, magnifications ``m_l``, z-interpolation (unclipped ``k0``,
        fraction ``fz``) per (plane, detector row)."""
        d = self.volume_shape[0]
        n_v, _ = self.det_shape
        dv, _ = self.det_spacing
        p = self.voxel_size
        m = self.n_planes
        y = (np.arange(m) - 0.5 * (m - 1)) * p
        mag = (self.source_origin - y) / (self.source_origin + self.origin_det)
        v = (np.arange(n_v) - 0.5 * (n_v - 1)) * dv
        zpos = mag[:, None] * v[None, :] / p + 0.5 * (d - 1)
        k0 = np.floor(zpos)
        return y, mag, k0.astype(np.int64), zpos - k0

    def _weights(self) -> np.ndarray:
        """Ray length per plane, ``p sqrt(L² + u² + v²) / L``, shape ``(n_rows, n_cols)``."""
        n_v, n_u = self.det_shape
        dv, du = self.det_spacing
        length = self.source_origin + self.origin_det
        u = (np.arange(n_u) - 0.5 * (n_u - 1)) * du
        v = (np.arange(n_v) - 0.5 * (n_v - 1)) * dv
        return self.voxel_size * np.sqrt(length**2 + u[None, :] ** 2 + v[:, None] ** 2) / length

    def _chunks(self) -> tuple[jax.Array, int]:
        """View angles as ``(n_chunks, chunk)`` (padded by repeating the last angle)."""
        beta = self.angles.astype(self.in_dtype)
        b = max(1, min(self.chunk, beta.shape[0]))
        extra = -beta.shape[0] % b
        beta = jnp.concatenate([beta, jnp.broadcast_to(beta[-1:], (extra,))])
        return beta.reshape(-1, b), extra

    def _inplane(self, cos, sin, y_l, m_l):
        """Flat column index of the lower-left neighbour and the four bilinear weights of the
        in-plane points of plane ``l`` for every (view, column): arrays ``(chunk, n_cols)``."""
        _, h, w = self.volume_shape
        n_u = self.det_shape[1]
        p = self.voxel_size
        dt = self.in_dtype
        u = jnp.asarray((np.arange(n_u) - 0.5 * (n_u - 1)) * self.det_spacing[1], dt)
        xr = u[None, :] * m_l
        jf = (xr * cos[:, None] - y_l * sin[:, None]) / p + 0.5 * (w - 1)
        if_ = (xr * sin[:, None] + y_l * cos[:, None]) / p + 0.5 * (h - 1)
        j0, i0 = jnp.floor(jf), jnp.floor(if_)
        fj, fi = jf - j0, if_ - i0
        j0 = jnp.clip(j0.astype(jnp.int32), -PAD, w) + PAD
        i0 = jnp.clip(i0.astype(jnp.int32), -PAD, h) + PAD
        base = i0 * (w + 2 * PAD) + j0
        weights = ((1 - fi) * (1 - fj), (1 - fi) * fj, fi * (1 - fj), fi * fj)
        return base, weights

    def _plane_inputs(self):
        d = self.volume_shape[0]
        dt = self.in_dtype
        y, mag, k0, fz = self._planes()
        kc = (np.clip(k0, -PAD, d) + PAD).astype(np.int32)
        return (
            jnp.asarray(y, dt),
            jnp.asarray(mag, dt),
            jnp.asarray(kc),
            jnp.asarray(1 - fz, dt),
            jnp.asarray(fz, dt),
        )

    # -- forward -----------------------------------------------------------------------------
    def _forward(self, vol: jax.Array) -> jax.Array:
        _, _, w = self.volume_shape
        n_v, n_u = self.det_shape
        dt = self.in_dtype
        stride = w + 2 * PAD
        cols = _columns(vol.astype(dt))
        planes = self._plane_inputs()
        betas, extra = self._chunks()

        def chunk(beta):
            cos, sin = jnp.cos(beta), jnp.sin(beta)

            def plane(acc, inputs):
                y_l, m_l, k_l, z0, z1 = inputs
                base, wts = self._inplane(cos, sin, y_l, m_l)
                g = sum(
                    wt[..., None] * cols.at[base + off].get(mode="promise_in_bounds")
                    for wt, off in zip(wts, (0, 1, stride, stride + 1), strict=True)
                )  # (chunk, n_u, D + 4)
                gt = g.transpose(2, 0, 1)  # (D + 4, chunk, n_u): z-rows shared by all views
                a0 = gt.at[k_l].get(mode="promise_in_bounds")
                a1 = gt.at[k_l + 1].get(mode="promise_in_bounds")
                return acc + z0[:, None, None] * a0 + z1[:, None, None] * a1, None

            acc = jnp.zeros((n_v, beta.shape[0], n_u), dt)
            acc, _ = jax.lax.scan(plane, acc, planes)
            return acc.transpose(1, 0, 2)

        out = jax.lax.map(chunk, betas).reshape(-1, n_v, n_u)
        out = out[: out.shape[0] - extra] * jnp.asarray(self._weights(), dt)
        return out.astype(self.out_dtype)

    # -- adjoint (hand-written transpose of _forward: gathers for z, scatter-adds in-plane) ---
    def _backward(self, proj: jax.Array) -> jax.Array:
        d, h, w = self.volume_shape
        n_v, n_u = self.det_shape
        dt = self.in_dtype
        stride = w + 2 * PAD
        y, mag, k0, fz = self._planes()
        rows, taps = _z_taps(k0, fz, d, n_v)
        planes = (jnp.asarray(y, dt), jnp.asarray(mag, dt), jnp.asarray(rows))
        planes = (*planes, jnp.asarray(taps, dt))
        betas, extra = self._chunks()
        proj = proj.astype(dt) * jnp.asarray(self._weights(), dt)
        proj = jnp.concatenate([proj, jnp.zeros((extra, n_v, n_u), dt)])
        proj = proj.reshape(betas.shape[0], betas.shape[1], n_v, n_u)
        # (chunks, n_v + 1, chunk, n_u): detector rows first, plus a zero row for padded taps
        proj = jnp.pad(proj.transpose(0, 2, 1, 3), ((0, 0), (0, 1), (0, 0), (0, 0)))

        def chunk(acc, inputs):
            beta, q = inputs
            cos, sin = jnp.cos(beta), jnp.sin(beta)

            def plane(acc, inputs):
                y_l, m_l, r_l, t_l = inputs
                gt = jnp.einsum("kt,ktbc->kbc", t_l, q.at[r_l].get(mode="promise_in_bounds"))
                g = gt.transpose(1, 2, 0)  # (chunk, n_u, D)
                base, wts = self._inplane(cos, sin, y_l, m_l)
                for wt, off in zip(wts, (0, 1, stride, stride + 1), strict=True):
                    acc = acc.at[base + off].add(wt[..., None] * g, mode="promise_in_bounds")
                return acc, None

            acc, _ = jax.lax.scan(plane, acc, planes)
            return acc, None

        acc = jnp.zeros(((h + 2 * PAD) * stride, d), dt)
        acc, _ = jax.lax.scan(chunk, acc, (betas, proj))
        vol = acc.reshape(h + 2 * PAD, stride, d)[PAD : PAD + h, PAD : PAD + w]
        return vol.transpose(2, 0, 1).astype(self.in_dtype)

    def _apply(self, x: jax.Array) -> jax.Array:
        return _forward_jit(self, x)

    def _adjoint(self, y: jax.Array) -> jax.Array:
        return _adjoint_jit(self, y)
