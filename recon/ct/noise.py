"""CT measurement noise with explicit keys: Poisson transmission (post-log) and Gaussian.

Poisson transmission (Beer-Lambert): a bin with line integral ``l`` (attenuation units, i.e.
``mu * sino`` with ``mu`` the attenuation of unit image value per unit length) receives
``N ~ Poisson(I0 exp(-l))`` photons of ``I0`` emitted; the post-log measurement is
``-log(N / I0) / mu``. A zero count has no logarithm; as dival does for LoDoPaB-CT (Leuschner et
al., Sci. Data 8:109, 2021, ``min_photon_count = 0.1``), it is replaced by ``min_photon_count``
photons before the log, so the measurement is finite and bounded by ``-log(0.1 / I0) / mu``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def poisson_transmission(
    key: jax.Array,
    sino: jax.Array,
    photons: float,
    mu: float = 1.0,
    min_photon_count: float = 0.1,
) -> jax.Array:
    """Post-log sinogram with Poisson photon noise, ``photons`` (I0) per bin; same dtype."""
    if not photons > 0:
        raise ValueError(f"photons (I0 per bin) must be > 0, found {photons!r}")
    if not mu > 0:
        raise ValueError(f"mu must be > 0, found {mu!r}")
    if not 0 < min_photon_count <= 1:
        raise ValueError(f"min_photon_count must be in (0, 1], found {min_photon_count!r}")
    sino = jnp.asarray(sino)
    dtype = sino.dtype
    expected = photons * jnp.exp(-mu * sino.astype(jnp.float32 if dtype == jnp.float32 else dtype))
    counts = jax.random.poisson(key, expected, shape=sino.shape).astype(expected.dtype)
    counts = jnp.maximum(counts, min_photon_count)
    return (-jnp.log(counts / photons) / mu).astype(dtype)


def gaussian(key: jax.Array, sino: jax.Array, sigma: float, relative: bool = False) -> jax.Array:
    """Add white Gaussian noise of standard deviation ``sigma`` (times ``mean(|sino|)`` if
    ``relative``); same dtype."""
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, found {sigma!r}")
    sino = jnp.asarray(sino)
    scale = sigma * jnp.mean(jnp.abs(sino)) if relative else sigma
    noise = jax.random.normal(key, sino.shape, dtype=sino.dtype)
    return (sino + scale * noise).astype(sino.dtype)
