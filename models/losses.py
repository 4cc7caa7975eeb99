"""EDM-weighted denoising score matching (Karras et al. 2022, section 5 and Table 1).

For clean images ``y``, ``ln sigma ~ N(P_mean, P_std^2)`` and ``n ~ N(0, sigma^2 I)``:

    L = E[ lambda(sigma) || D(y + n, sigma) - y ||^2 ],  lambda = (sigma^2 + sd^2) / (sigma sd)^2,

which equals the unit-weighted regression of the raw network output onto its effective target.
The squared error is averaged over pixels and channels, then over the batch.

Distillation (``target_fn``): the regression target ``y`` is replaced by a teacher denoiser's
output ``D_T(y + n, sigma)``. Both losses have the same minimiser when the teacher is the exact
posterior mean ``E[y | y + n]`` (the minimiser of the loss above), but the teacher's target has
no variance given ``y + n``, so a student learns the teacher's function from fewer samples
(knowledge distillation: Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network",
2015; a diffusion student regressed onto targets its teacher computes: Salimans & Ho,
"Progressive Distillation for Fast Sampling of Diffusion Models", ICLR 2022, section 3, where
the target is two teacher sampling steps rather than one denoiser call).
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
    target_fn: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray] | None = None,
) -> jnp.ndarray:
    """EDM loss of clean NHWC float32 batch ``y`` with noise drawn from ``key`` (scalar float32).

    ``target_fn(noisy, sigma)`` (a teacher denoiser on NHWC channels, ``sigma`` of shape ``(B,)``)
    replaces the target ``y`` when given; no gradient flows into it."""
    k_sigma, k_noise = jax.random.split(key)
    sigma = sample_sigmas(k_sigma, y.shape[0], p_mean, p_std)
    noise = jax.random.normal(k_noise, y.shape, jnp.float32) * sigma[:, None, None, None]
    noisy = y + noise
    d = denoise_channels(apply_fn, params, noisy, sigma, sigma_data)
    if target_fn is not None:
        y = jax.lax.stop_gradient(target_fn(noisy, sigma))
    weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
    per_sample = jnp.mean((d - y) ** 2, axis=(1, 2, 3))
    return jnp.mean(weight * per_sample)
