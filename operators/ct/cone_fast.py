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
   (gathers of contiguous ``D``-vectors; the volume is stored as z-columns);
2. along z: resample that ``(n_cols, D)`` plane at the ``n_rows`` positions ``z_lr``, the same
   for every column and view: one product with the plane's ``(n_rows, D)`` interpolation
   matrix (two non-zeros per row, built on the fly from a static table).

Implementation choices, measured at 128³, 180 views, 192² detector on this project's 2-core CPU:
the z-step as a dense matmul beat gathering rows of the transposed plane (XLA's per-plane
transpose alone cost more than the matmul); the forward runs ``chunk`` views per plane step
(``lax.map`` over chunks, ``lax.scan`` over planes accumulating the projections, so
intermediates are ``chunk x n_cols x (D + n_rows)`` whatever the number of planes or views).
The z-step's cost per ray sample grows with ``D`` (``n_cols n_rows D`` per plane): a banded
product would be the next step for volumes much larger than 256³.

Adjoint, written by hand as the transpose of that program, plane by plane, one view per step:
the z-step's transpose is a gather (for each voxel ``k`` of plane ``l``, the few detector rows
whose sample falls within one voxel of it, weighted by the forward's matrix entries, from one
static table), the in-plane blend's transpose a scatter-add of contiguous ``D``-vectors into the
volume's columns. Both use the forward's numbers, so ``A.H`` is the exact transpose up to
summation order (the generic adjoint tests check 1e-6 / 1e-12). Why by hand: XLA's own
transpose of a row gather is a scatter-add of short rows with many duplicates; the whole
backprojection by ``jax.linear_transpose`` of a gather-based forward took 8-15 s here against
about 3 s for this one. Gradients flow through both directions by JAX autodiff of these
programs (exact; XLA's transposes, so slower than ``A`` and ``A.H`` themselves). Pure JAX (no
library resampler is jit/grad-able), so it runs under jit, vmap and grad on CPU, GPU and TPU.

Compared with the Joseph engine on smooth volumes the two models agree to about 1e-3 relative
L2, and at axis-aligned views (β a multiple of π/2) they are equal (``tests/operators/test_ct.py``);
both are second-order accurate approximations of the line integrals of the trilinear interpolant.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from operators.ct.raydriven import ConeBeam

PAD = 2  # zero voxels added at both ends of both in-plane axes; clipped indices land in them


def _plane_count(h: int, w: int) -> int:
    """Number of sampling planes: cover the disc of radius ``hypot(h+1, w+1)/2`` (voxels) with
    unit spacing, centred, with the parity of ``h`` (planes on voxel rows at β = 0)."""
    half = 0.5 * math.hypot(h + 1, w + 1)
    m = 2 * math.ceil(half) + 1
    return m + 1 if (m - h) % 2 else m


def _columns(vol: jax.Array) -> jax.Array:
    """``((H+4) (W+4), D)``: the volume as z-columns, zero-padded in-plane, row-major (i, j)."""
    d, h, w = vol.shape
    cols = jnp.pad(vol.transpose(1, 2, 0), ((PAD, PAD), (PAD, PAD), (0, 0)))
    return cols.reshape((h + 2 * PAD) * (w + 2 * PAD), d)


def _z_matrix(k0: jax.Array, z0: jax.Array, z1: jax.Array, d: int) -> jax.Array:
    """``(n_rows, D)`` linear-interpolation matrix of one plane: row ``r`` has ``z0[r]`` at
    ``k0[r]`` and ``z1[r]`` at ``k0[r] + 1`` (entries outside ``[0, D)`` dropped: zero voxels)."""
    k = jnp.arange(d, dtype=k0.dtype)[None, :]
    zero = jnp.zeros((), z0.dtype)
    return jnp.where(k == k0[:, None], z0[:, None], zero) + jnp.where(
        k == k0[:, None] + 1, z1[:, None], zero
    )


def _z_taps(k0: np.ndarray, z0: np.ndarray, z1: np.ndarray, d: int, n_v: int):
    """Transpose of the z-interpolation as a gather: for every plane ``l`` and voxel ``k``, the
    rows ``r`` with ``k0[l, r] in {k, k-1}`` and their weights ``z0`` / ``z1`` (the forward's
    matrix entries), padded with row ``n_v`` (a zero row) and weight 0. Returns ``(rows,
    weights)``, each ``(planes, D, taps)``."""
    m = k0.shape[0]
    plane = np.repeat(np.arange(m), n_v)
    row = np.tile(np.arange(n_v), m)
    plane, row = np.concatenate([plane, plane]), np.concatenate([row, row])
    k = np.concatenate([k0.ravel(), k0.ravel() + 1]).astype(np.int64)
    wt = np.concatenate([z0.ravel(), z1.ravel()])
    keep = (k >= 0) & (k < d)
    plane, row, k, wt = plane[keep], row[keep], k[keep], wt[keep]
    key = plane * d + k
    order = np.argsort(key, kind="stable")
    key, plane, row, k, wt = key[order], plane[order], row[order], k[order], wt[order]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    tap = np.arange(key.size) - first[inverse]  # position within its (plane, voxel) group
    taps = int(tap.max()) + 1 if key.size else 1
    rows = np.full((m, d, taps), n_v, np.int32)
    weights = np.zeros((m, d, taps))
    rows[plane, k, tap] = row
    weights[plane, k, tap] = wt
    return rows, weights


@jax.jit
def _forward_jit(op, x):
    return op._forward(x)


@jax.jit
def _adjoint_jit(op, y):
    return op._backward(y)


class ConeBeamRotated(ConeBeam):
    """Cone-beam projector by rotated-frame separable resampling (module docstring).

    A :class:`operators.ct.raydriven.ConeBeam` (same fields, geometry and FDK support) whose
    engine is replaced. The forward projects ``chunk`` views per step (``lax.map`` over chunks;
    4-8 ran ~1.3x faster than 1 at 128³ on CPU); the backprojection takes one view per step
    (faster for its scatter-adds).
    """

    chunk: int = struct.field(pytree_node=False, default=8)

    @property
    def n_planes(self) -> int:
        """Sampling planes per ray (``M`` in the module docstring)."""
        _, h, w = self.volume_shape
        return _plane_count(h, w)

    def _plane_tables(self):
        """Per plane: ``y_l``, ``m_l``; per (plane, detector row): the z-sample's lower voxel
        ``k0`` (clipped to [-2, D+1]: beyond, no voxel either way) and its weights ``1 - fz``,
        ``fz``. Numpy float64, cast where used: forward and adjoint use the same numbers."""
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
        fz = zpos - k0
        return y, mag, np.clip(k0, -2, d + 1).astype(np.int32), 1.0 - fz, fz

    def _plane_inputs(self):
        """The forward's scanned per-plane inputs (:meth:`_plane_tables` as arrays)."""
        dt = self.in_dtype
        y, mag, k0, z0, z1 = self._plane_tables()
        return (
            jnp.asarray(y, dt),
            jnp.asarray(mag, dt),
            jnp.asarray(k0),
            jnp.asarray(z0, dt),
            jnp.asarray(z1, dt),
        )

    def _weights(self) -> np.ndarray:
        """Ray length per plane, ``p sqrt(L² + u² + v²) / L``, shape ``(n_rows, n_cols)``."""
        n_v, n_u = self.det_shape
        dv, du = self.det_spacing
        length = self.source_origin + self.origin_det
        u = (np.arange(n_u) - 0.5 * (n_u - 1)) * du
        v = (np.arange(n_v) - 0.5 * (n_v - 1)) * dv
        return self.voxel_size * np.sqrt(length**2 + u[None, :] ** 2 + v[:, None] ** 2) / length

    def _chunks(self, size: int) -> tuple[jax.Array, int]:
        """View angles as ``(n_chunks, size)`` (padded by repeating the last angle) and the
        number of padded views."""
        beta = self.angles.astype(self.in_dtype)
        b = max(1, min(size, beta.shape[0]))
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

    # -- forward -----------------------------------------------------------------------------
    def _forward(self, vol: jax.Array) -> jax.Array:
        d, _, w = self.volume_shape
        n_v, n_u = self.det_shape
        dt = self.in_dtype
        offsets = (0, 1, w + 2 * PAD, w + 2 * PAD + 1)
        cols = _columns(vol.astype(dt))
        planes = self._plane_inputs()
        betas, extra = self._chunks(self.chunk)

        def chunk(beta):
            cos, sin = jnp.cos(beta), jnp.sin(beta)

            def plane(acc, inputs):
                y_l, m_l, k_l, z0, z1 = inputs
                base, wts = self._inplane(cos, sin, y_l, m_l)
                g = sum(
                    wt[..., None] * cols.at[base + off].get(mode="promise_in_bounds")
                    for wt, off in zip(wts, offsets, strict=True)
                )  # (chunk, n_u, D)
                zmat = _z_matrix(k_l, z0, z1, d)  # (n_v, D)
                return acc + jnp.einsum("bck,rk->bcr", g, zmat), None

            acc = jnp.zeros((beta.shape[0], n_u, n_v), dt)
            acc, _ = jax.lax.scan(plane, acc, planes)
            return acc

        out = jax.lax.map(chunk, betas).reshape(-1, n_u, n_v).transpose(0, 2, 1)
        out = out[: out.shape[0] - extra] * jnp.asarray(self._weights(), dt)
        return out.astype(self.out_dtype)

    # -- adjoint: the forward program transposed by hand, step by step -----------------------
    def _z_tables(self):
        """Per plane (scanned): ``y_l``, ``m_l`` and the transposed z-interpolation as taps
        (rows, weights ``(D, taps)``; see :func:`_z_taps`)."""
        d = self.volume_shape[0]
        n_v = self.det_shape[0]
        dt = self.in_dtype
        y, mag, k0, z0, z1 = self._plane_tables()
        rows, taps = _z_taps(k0, z0, z1, d, n_v)
        return jnp.asarray(y, dt), jnp.asarray(mag, dt), jnp.asarray(rows), jnp.asarray(taps, dt)

    def _backward(self, proj: jax.Array) -> jax.Array:
        d, h, w = self.volume_shape
        n_v, n_u = self.det_shape
        dt = self.in_dtype
        offsets = (0, 1, w + 2 * PAD, w + 2 * PAD + 1)
        planes = self._z_tables()
        betas, extra = self._chunks(1)  # one view per step: measured fastest for scatter-adds
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
                for wt, off in zip(wts, offsets, strict=True):
                    acc = acc.at[base + off].add(wt[..., None] * g, mode="promise_in_bounds")
                return acc, None

            acc, _ = jax.lax.scan(plane, acc, planes)
            return acc, None

        acc = jnp.zeros(((h + 2 * PAD) * (w + 2 * PAD), d), dt)
        acc, _ = jax.lax.scan(chunk, acc, (betas, proj))
        vol = acc.reshape(h + 2 * PAD, w + 2 * PAD, d)[PAD : PAD + h, PAD : PAD + w]
        return vol.transpose(2, 0, 1).astype(self.in_dtype)

    def _apply(self, x: jax.Array) -> jax.Array:
        return _forward_jit(self, x)

    def _adjoint(self, y: jax.Array) -> jax.Array:
        return _adjoint_jit(self, y)
