"""Unconditional sampling from a prior (data synthesis) with the same samplers.

``draw(denoiser, shape, dtype, n, key, nfe, eta)`` runs :func:`~recon.diffusion.samplers.ddim`
with no data consistency over Karras et al. (2022) noise levels, vmapped over ``n`` keys.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from recon.diffusion.consistency import DataConsistency
from recon.diffusion.posterior import DiffusionConfig, noise_levels
from recon.diffusion.samplers import ddim, initial_noise


def draw(
    denoiser: Callable,
    shape: tuple[int, ...],
    dtype,
    n: int,
    key: jax.Array,
    nfe: int = 50,
    eta: float = 1.0,
    sigma_max: float = 80.0,
) -> jax.Array:
    """``n`` samples of ``shape`` from the prior whose denoiser is ``denoiser``."""
    cfg = DiffusionConfig(nfe=nfe, eta=eta, sigma_max=sigma_max)
    sigmas = noise_levels(cfg, nfe)

    def one(k):
        k0, k1 = jax.random.split(k)
        x = initial_noise(k0, shape, dtype, sigmas[0])
        return ddim(denoiser, DataConsistency(), sigmas, x, k1, eta=eta)

    return jax.jit(jax.vmap(one))(jax.random.split(key, n))


__all__ = ["draw"]
