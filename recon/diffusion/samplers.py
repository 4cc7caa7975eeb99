"""Samplers: pure ``lax.scan`` loops over noise levels with ``(x, key)`` as the carry.

Noise model (variance exploding, as EDM, Karras et al. NeurIPS 2022): ``x_σ = x0 + σ n`` with
unit-variance noise per real component. ``sigmas`` is a decreasing array ending in 0; the number
of network evaluations (NFE) is ``len(sigmas) - 1`` for :func:`ddim` and twice that for
:func:`predictor_corrector`.

:func:`ddim` (Song, Meng & Ermon, ICLR 2021) re-noises a (posterior) denoised estimate ``x̂0``:

    ε̂ = (x - x̂0) / σ,   c₁ = η σ' sqrt(1 - σ'²/σ²),   c₂ = sqrt(σ'² - c₁²),
    x' = x̂0 + c₂ ε̂ + c₁ z,

so ``η = 1`` is the ancestral (DDPM) step and ``η = 0`` the deterministic probability-flow step.
With a data-consistency module from :mod:`recon.diffusion.consistency` this is DDS
(:class:`~recon.diffusion.consistency.ConjugateGradientProx`) or DPS
(:class:`~recon.diffusion.consistency.GradientGuidance`).

:func:`predictor_corrector` is score-MRI (Chung & Ye, MedIA 2022; Song et al., ICLR 2021): a
reverse-diffusion predictor, one annealed Langevin corrector step with signal-to-noise ratio
``snr``, and the module's projection after each.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from recon.diffusion.consistency import DataConsistency, standard_noise

Denoiser = Callable[[jax.Array, jax.Array], jax.Array]


def initial_noise(key: jax.Array, shape, dtype, sigma_max) -> jax.Array:
    """``σ_max n``: the starting sample (the prior mean is negligible at ``σ_max``)."""
    return (sigma_max * standard_noise(key, shape, dtype)).astype(dtype)


def level_pairs(sigmas: jax.Array, dtype) -> jax.Array:
    """``(σ_i, σ_{i+1})`` rows, in the real dtype of the images: what a sampler scans over."""
    sigmas = jnp.asarray(sigmas, jnp.finfo(dtype).dtype)
    return jnp.stack([sigmas[:-1], sigmas[1:]], axis=1)


def ddim(
    denoiser: Denoiser,
    consistency: DataConsistency,
    sigmas: jax.Array,
    x_init: jax.Array,
    key: jax.Array,
    eta: float = 1.0,
    noise_sign: float | jax.Array = 1.0,
) -> jax.Array:
    """Generalised DDIM sampler; returns the final ``x̂0`` (the sample).

    ``noise_sign = -1`` negates every noise draw (the antithetic partner of the same key).
    """
    pairs = level_pairs(sigmas, x_init.dtype)

    def step(carry, pair):
        x, key = carry
        sigma, sigma_next = pair[0], pair[1]
        key, k_dc, k_noise = jax.random.split(key, 3)
        x0 = consistency.posterior_denoise(denoiser, x, sigma, sigma_next, k_dc)
        eps = (x - x0) / sigma
        c1 = eta * sigma_next * jnp.sqrt(jnp.clip(1.0 - sigma_next**2 / sigma**2, 0.0))
        c2 = jnp.sqrt(jnp.clip(sigma_next**2 - c1**2, 0.0))
        z = noise_sign * standard_noise(k_noise, x.shape, x.dtype)
        x_next = x0 + c2 * eps + c1 * z
        return (x_next.astype(x.dtype), key), None

    (x, _), _ = jax.lax.scan(step, (x_init, key), pairs)
    return x


def predictor_corrector(
    denoiser: Denoiser,
    consistency: DataConsistency,
    sigmas: jax.Array,
    x_init: jax.Array,
    key: jax.Array,
    snr: float = 0.16,
    noise_sign: float | jax.Array = 1.0,
) -> jax.Array:
    """Reverse-diffusion predictor + Langevin corrector + projection (score-MRI).

    ``noise_sign = -1`` negates the predictor and corrector noise (antithetic partner).
    """
    real = jnp.finfo(x_init.dtype).dtype
    pairs = level_pairs(sigmas, x_init.dtype)

    def step(carry, pair):
        x, key = carry
        sigma, sigma_next = pair[0], pair[1]
        key, k_pred, k_proj1, k_corr, k_proj2 = jax.random.split(key, 5)
        # predictor: ancestral step with the prior denoiser
        x0 = denoiser(x, sigma)
        c1 = sigma_next * jnp.sqrt(jnp.clip(1.0 - sigma_next**2 / sigma**2, 0.0))
        x = x0 + (sigma_next**2 / sigma**2) * (x - x0) + c1 * noise_sign * standard_noise(
            k_pred, x.shape, x.dtype
        )
        x = consistency.project(x, sigma_next, k_proj1)
        # corrector: one Langevin step at the new level (skipped at sigma_next = 0)
        safe = jnp.where(sigma_next > 0, sigma_next, 1.0)  # the step is discarded at 0
        score = (denoiser(x, safe) - x) / safe**2
        z = standard_noise(k_corr, x.shape, x.dtype)
        step_size = 2.0 * (snr * jnp.linalg.norm(z) / jnp.maximum(jnp.linalg.norm(score),
                                                                   jnp.finfo(real).tiny)) ** 2
        step_size = jnp.where(sigma_next > 0, step_size, 0.0).astype(real)
        x = x + step_size * score + jnp.sqrt(2.0 * step_size) * noise_sign * z
        x = consistency.project(x, sigma_next, k_proj2)
        return (x.astype(x_init.dtype), key), None

    (x, _), _ = jax.lax.scan(step, (x_init, key), pairs)
    return x


def default_sample_batch() -> int | None:
    """Posterior samples run at once by default: one on CPU, all of them on an accelerator.

    On CPU a vmapped batch of K network evaluations costs more than K single ones, because the
    larger activations fall out of cache (``mri-brain``, 4 x 256x256 in one call 5.4x one image,
    one after another 3.7x; a whole DDS reconstruction at 256x256 with K = 8: 11.6x vs 7.0x
    K = 1, BENCHMARKS.md). Small images batch well (CT 128x128, K = 4: 3.8x vmapped vs 4.1x one
    at a time), which this default gives up. GPUs and TPUs want the batch. The choice is static
    (read when the sampler is traced), not a branch in the loop.
    """
    return 1 if jax.default_backend() == "cpu" else None


def posterior_samples(
    sampler: Callable[..., jax.Array],
    key: jax.Array,
    n_samples: int,
    batch_size: int | None = None,
    antithetic: bool = False,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Draw ``n_samples`` posterior samples; return ``(mean, std, samples)``.

    ``sampler(key) -> image``, or ``sampler(key, sign) -> image`` with ``antithetic``.
    ``batch_size`` samples are drawn at once (vmapped) and the batches one after another
    (``lax.map``); ``None`` draws all in one vmapped batch. The keys, and so the samples, do not
    depend on ``batch_size``.

    ``antithetic``: the samples come in pairs that share a key and negate every noise draw
    (``sign = +1, -1``), antithetic variates (Hammersley & Morton, Proc. Camb. Phil. Soc. 1956).
    Each is still a sample of the sampler's distribution; where a sample is close to an affine
    function of its noise (a Gaussian posterior, or a well-determined one) the pair's mean cancels
    the noise's linear part, so the mean of K antithetic samples estimates the posterior mean far
    better than K independent ones (exactly, for a Gaussian prior). ``n_samples`` must be even.

    The standard deviation is per pixel, of the complex samples: ``sqrt(E|x - mean|²)``, with the
    unbiased ``n - 1`` normalisation for independent samples and ``n`` for antithetic ones (whose
    mean has no sampling error in the affine case, so no degree of freedom is spent on it).
    """
    if antithetic:
        if n_samples % 2:
            raise ValueError(f"antithetic sampling needs an even number of samples, got "
                             f"{n_samples}")
        keys = jnp.repeat(jax.random.split(key, n_samples // 2), 2, axis=0)
        signs = jnp.tile(jnp.asarray([1.0, -1.0], jnp.float32), n_samples // 2)
        args = (keys, signs)
    else:
        args = (jax.random.split(key, n_samples),)

    def draw(a):
        return sampler(*a)

    if batch_size is None or batch_size >= n_samples:
        samples = jax.vmap(draw)(args)
    else:
        samples = jax.lax.map(draw, args, batch_size=int(batch_size))
    mean = jnp.mean(samples, axis=0)
    dof = n_samples if antithetic else max(n_samples - 1, 1)
    std = jnp.sqrt(jnp.sum(jnp.abs(samples - mean) ** 2, axis=0) / dof)
    return mean, std, samples
