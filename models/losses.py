"""EDM-weighted denoising score matching (Karras et al. 2022, section 5 and Table 1).

For clean images ``y``, ``ln sigma ~ N(P_mean, P_std^2)`` and ``n ~ N(0, sigma^2 I)``:

    L = E[ lambda(sigma) || D(y + n, sigma) - y ||^2 ],  lambda = (sigma^2 + sd^2) / (sigma sd)^2,

which equals the unit-weighted regression of the raw network output onto its effective target.
The squared error is averaged over pixels and channels, then over the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from models.edm import denoise_channels


def sample_sigmas(key: jax.Array, n: int, p_mean: float, p_std: float) -> jnp.ndarray:
    """``n`` noise levels with ``ln sigma ~ N(p_mean, p_std^2)`` (float32)."""
    return jnp.exp(p_mean + p_std * jax.random.normal(key, (n,), jnp.float32))


def edm_loss(
    apply_fn: Callable,
    params: Any,
    y: jnp.ndarray,
    key: jax.Array,
    sigma_data: float,
    p_mean: float = -1.2,
    p_std: float = 1.2,
) -> jnp.ndarray:
    """EDM loss of clean NHWC float32 batch ``y`` with noise drawn from ``key`` (scalar float32)."""
    k_sigma, k_noise = jax.random.split(key)
    sigma = sample_sigmas(k_sigma, y.shape[0], p_mean, p_std)
    noise = jax.random.normal(k_noise, y.shape, jnp.float32) * sigma[:, None, None, None]
    d = denoise_channels(apply_fn, params, y + noise, sigma, sigma_data)
    weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
    per_sample = jnp.mean((d - y) ** 2, axis=(1, 2, 3))
    return jnp.mean(weight * per_sample)
