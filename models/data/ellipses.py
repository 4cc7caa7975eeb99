"""Random-ellipse images following dival's ``ellipses`` benchmark training distribution.

dival's ``EllipsesDataset`` (Leuschner et al., dival library documentation) draws
each 128x128 image with ``odl.phantom.ellipsoid_phantom`` on the square ``[-64, 64]^2`` from up
to 70 ellipses, of which ``n = min(Poisson(40), 70)`` are active, each with

- value ``v ~ U(-0.4, 1.0)`` (values of overlapping ellipses add),
- half-axes ``a1, a2 ~ 0.2 Exp(1)`` and centre ``(x, y) ~ U(-0.9, 0.9)^2``, in units of the half
  width of the square, and rotation ``~ U(0, 2 pi)``;

then shifts the non-zero pixels so their minimum is 0 and divides by the maximum, giving images in
[0, 1] with background 0. This module re-implements that distribution in JAX (our own code: pixel
centres inside the rotated ellipse get the value), jit-compiled and vmapped, with explicit keys.
Training draws random ``patch`` x ``patch`` crops of full 128x128 images; :func:`heldout` draws full
images from a key domain (``heldout_seed``) that training never uses.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

MAX_ELLIPSES = 70
MEAN_ELLIPSES = 40


def _ellipse_image(key: jax.Array, size: int) -> jnp.ndarray:
    kv, ka, kb, kx, ky, kr, kn = jax.random.split(key, 7)
    m = MAX_ELLIPSES
    v = jax.random.uniform(kv, (m,), minval=-0.4, maxval=1.0, dtype=jnp.float32)
    a1 = 0.2 * jax.random.exponential(ka, (m,), dtype=jnp.float32)
    a2 = 0.2 * jax.random.exponential(kb, (m,), dtype=jnp.float32)
    cx = jax.random.uniform(kx, (m,), minval=-0.9, maxval=0.9, dtype=jnp.float32)
    cy = jax.random.uniform(ky, (m,), minval=-0.9, maxval=0.9, dtype=jnp.float32)
    rot = jax.random.uniform(kr, (m,), minval=0.0, maxval=2 * jnp.pi, dtype=jnp.float32)
    n = jnp.minimum(jax.random.poisson(kn, MEAN_ELLIPSES, dtype=jnp.int32), m)
    v = jnp.where(jnp.arange(m) < n, v, 0.0)
    # pixel centres of a size x size grid on [-1, 1]^2 (first axis = x, as in odl)
    c = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size * 2.0 - 1.0
    px, py = jnp.meshgrid(c, c, indexing="ij")

    def one(vi, a1i, a2i, cxi, cyi, ri):
        dx, dy = px - cxi, py - cyi
        cr, sr = jnp.cos(ri), jnp.sin(ri)
        u = cr * dx + sr * dy
        w = -sr * dx + cr * dy
        inside = (u / a1i) ** 2 + (w / a2i) ** 2 <= 1.0
        return jnp.where(inside, vi, 0.0)

    img = jnp.sum(jax.vmap(one)(v, a1, a2, cx, cy, rot), axis=0)
    nz = img != 0
    lo = jnp.min(jnp.where(nz, img, jnp.inf))
    img = jnp.where(nz, img - lo, 0.0)
    hi = jnp.max(img)
    return jnp.where(hi > 0, img / jnp.where(hi > 0, hi, 1.0), img).astype(jnp.float32)


@functools.partial(jax.jit, static_argnums=(1, 2))
def ellipse_images(key: jax.Array, n: int, size: int = 128) -> jnp.ndarray:
    """``n`` full ellipse images ``(n, size, size)`` float32 in [0, 1]."""
    return jax.vmap(lambda k: _ellipse_image(k, size))(jax.random.split(key, n))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _sample(key: jax.Array, n: int, size: int, patch: int) -> jnp.ndarray:
    k_img, k_crop = jax.random.split(key)
    imgs = ellipse_images(k_img, n, size)
    if patch == size:
        return imgs
    offs = jax.random.randint(k_crop, (n, 2), 0, size - patch + 1, dtype=jnp.int32)
    return jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1]), (patch, patch)))(
        imgs, offs
    )


class EllipsesSource:
    """dival-style ellipses: ``sample(key, B) -> (B, patch, patch)`` float32 crops."""

    is_complex = False

    def __init__(self, size: int = 128, patch: int = 64, heldout_seed: int = 987_654_321):
        if not 0 < patch <= size:
            raise ValueError(f"patch must be in 1..size={size}, got {patch}")
        self.size, self.patch, self.heldout_seed = int(size), int(patch), int(heldout_seed)

    def sample(self, key: jax.Array, batch_size: int) -> jnp.ndarray:
        return _sample(key, int(batch_size), self.size, self.patch)

    def heldout(self, n: int = 4) -> jnp.ndarray:
        """``n`` full ``size x size`` images from a key domain that training never uses."""
        return ellipse_images(jax.random.key(self.heldout_seed), int(n), self.size)
