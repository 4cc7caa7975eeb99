"""Diffusion reconstruction for any linear operator: configuration, scaling, posterior samples.

:class:`DiffusionConfig` names a method; :func:`build_sampler` is the only place that reads the
name, turning it into a sampler function and a data-consistency module (DESIGN.md: no algorithm
branches on a task string). :func:`reconstruct` then

1. estimates the intensity scale of the unknown image from a short least-squares solve (CG on
   ``A^H A x = A^H y``, 10 iterations) so the data match the prior's training intensities
   (``target_level`` at the 99.5th percentile of the magnitude),
2. draws ``n_samples`` posterior samples with the chosen sampler (vmapped batches of
   ``sample_batch``, one after another),
3. returns the posterior mean and per-pixel standard deviation in the data's original scale.

Warm start (``start_sigma``, "come closer, diffuse faster", CCDF: Chung, Sim & Ye, CVPR 2022):
instead of pure noise at ``sigma_max``, each sample starts at ``x_start + start_sigma n`` from a
classical estimate ``x_start`` (e.g. L1-wavelet) and runs the noise levels from ``start_sigma``
down. The forward-diffused estimate is close to the forward-diffused truth once ``start_sigma``
exceeds the estimate's error, so the reverse process needs only the low levels, where the
network evaluations are spent; the prior then removes the estimate's artefacts instead of
inventing the whole image.

Methods (network evaluations per reconstruction: ``nfe`` for each):

- ``"dds"``: :func:`~recon.diffusion.samplers.ddim` + :class:`ConjugateGradientProx` (default),
- ``"dps"``: :func:`~recon.diffusion.samplers.ddim` (η = 1) + :class:`GradientGuidance`
  (each step also back-propagates through the network, about 3x the cost of an NFE),
- ``"score-mri"``: :func:`~recon.diffusion.samplers.predictor_corrector` + :class:`Projection`
  (two evaluations per noise level, so ``nfe // 2`` levels).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.scipy.sparse.linalg import cg

from models.schedules import karras_sigmas
from operators.linop import LinearOperator
from recon.diffusion.consistency import (
    ConjugateGradientProx,
    GradientGuidance,
    Projection,
    cg_tolerance,
)
from recon.diffusion.samplers import (
    ddim,
    default_sample_batch,
    initial_noise,
    posterior_samples,
    predictor_corrector,
)

METHODS = ("dds", "dps", "score-mri")


@dataclasses.dataclass(frozen=True)
class DiffusionConfig:
    """Settings of a diffusion reconstruction (all have defaults a user need not tune).

    ``noise_std`` is the per-real-component standard deviation of the measurement noise in the
    data's units; ``None`` means unknown, in which case DDS uses unregularised CG steps
    warm-started at the denoised estimate (the original DDS form) and DPS its normalised step.
    ``dc_weight`` scales DDS's proximal weight ``λ(σ)`` (> 1 trusts the denoiser more).
    ``antithetic`` draws an even number of samples as antithetic pairs
    (:func:`~recon.diffusion.samplers.posterior_samples`; an odd number are independent).
    ``target_level`` is the image's 99.5th magnitude percentile, after scaling, as the prior sees
    it. ``start_sigma`` (``None``: start from noise at ``sigma_max``) starts every sample at
    ``x_start + start_sigma n`` (module docstring); :func:`reconstruct` then needs ``x_start``.
    ``sample_batch`` posterior samples are drawn at once (``None``: one at a time on CPU, all at
    once on an accelerator, :func:`~recon.diffusion.samplers.default_sample_batch`); it changes
    the speed, never the samples.

    The DDS defaults (``eta = 1``, 20 CG iterations, ``dc_weight = 1``) were chosen on validation
    data with ``python -m experiments.eval_diffusion {mri,ct} --tune`` (grid: eta 0.5/1, CG 5/20,
    dc_weight 0.1/0.3/1): eta 1 and 20 CG steps won for MRI and CT. ``target_level = 0.5`` and
    antithetic pairs were chosen on the same validation data with two samples of 25 NFE. MRI
    4x, antithetic pairs: target level 0.4/0.5/0.6/0.8 gave 37.36/37.33/37.23/36.91 dB,
    independent pairs 36.97 dB at 0.6 and 36.71 dB at 0.8 (8x: 29.43/29.41/29.38/29.25 and
    29.20/29.10 dB). CT, 30 views, two samples of 10 NFE: 26.49-26.55 dB for levels 0.5-1.0 at
    ``dc_weight`` 0.3, 26.64 dB at 0.5 with ``dc_weight`` 1; antithetic 26.54 vs independent
    26.17 dB (see BENCHMARKS.md).
    """

    method: str = "dds"
    nfe: int = 50
    n_samples: int = 1
    eta: float = 1.0
    cg_iterations: int = 20
    dc_weight: float = 1.0
    dps_step: float = 1.0
    sigma_max: float = 40.0
    sigma_min: float = 0.002
    rho: float = 7.0
    noise_std: float | None = None
    target_level: float = 0.5
    sample_batch: int | None = None
    antithetic: bool = True
    start_sigma: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if int(self.nfe) < 1:
            raise ValueError(f"nfe must be >= 1, got {self.nfe}")
        if self.method == "score-mri" and self.nfe < 2:
            raise ValueError("score-mri needs nfe >= 2 (two evaluations per noise level)")
        if int(self.n_samples) < 1:
            raise ValueError(f"n_samples must be >= 1, got {self.n_samples}")
        if self.sample_batch is not None and int(self.sample_batch) < 1:
            raise ValueError(f"sample_batch must be >= 1 or None, got {self.sample_batch}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {self.sigma_min}, "
                             f"{self.sigma_max}")
        if self.start_sigma is not None and not (
            self.sigma_min < self.start_sigma <= self.sigma_max
        ):
            raise ValueError(f"start_sigma must be in (sigma_min, sigma_max] = ({self.sigma_min}, "
                             f"{self.sigma_max}], got {self.start_sigma}")

    @property
    def top_sigma(self) -> float:
        """The noise level the samples start at."""
        return self.sigma_max if self.start_sigma is None else float(self.start_sigma)


def noise_levels(cfg: DiffusionConfig, n: int) -> jax.Array:
    """``n`` Karras et al. (2022) noise levels from ``cfg.top_sigma`` to ``sigma_min``, then 0."""
    if n == 1:
        return jnp.asarray([cfg.top_sigma, 0.0], jnp.float32)
    return karras_sigmas(n, cfg.sigma_min, cfg.top_sigma, cfg.rho)


def build_sampler(
    cfg: DiffusionConfig,
    denoiser: Callable,
    A: LinearOperator,
    y: jax.Array,
    noise_var: jax.Array,
    prior_var: float,
    x_start: jax.Array | None = None,
    sigmas: jax.Array | None = None,
) -> Callable[[jax.Array], jax.Array]:
    """Return ``sample(key, sign=1) -> image`` for the configured method (the only branch on
    it); ``sign = -1`` negates every noise draw (the antithetic partner). With
    ``cfg.start_sigma`` the samples start at ``x_start + start_sigma n`` (in the prior's
    intensity scale). ``sigmas`` (may be traced, shape of :func:`noise_levels`'s) replaces
    the configured noise levels, e.g. with a warm-start level chosen inside jit."""
    if (cfg.start_sigma is None) != (x_start is None):
        raise ValueError("a warm start needs both cfg.start_sigma and x_start (got "
                         f"start_sigma={cfg.start_sigma}, x_start "
                         f"{'given' if x_start is not None else 'missing'})")
    if x_start is not None and tuple(x_start.shape) != tuple(A.in_shape):
        raise ValueError(f"x_start has shape {tuple(x_start.shape)}, the operator's images "
                         f"{tuple(A.in_shape)}")
    offset = jnp.zeros(A.in_shape, A.in_dtype) if x_start is None else x_start
    if cfg.method == "score-mri":
        sigmas = noise_levels(cfg, cfg.nfe // 2) if sigmas is None else sigmas
        sampler = predictor_corrector
        consistency = Projection(A, y, iterations=cfg.cg_iterations)
    else:
        sigmas = noise_levels(cfg, cfg.nfe) if sigmas is None else sigmas
        if cfg.method == "dds":
            sampler = functools.partial(ddim, eta=cfg.eta)
            consistency = ConjugateGradientProx(
                A, y, noise_var=noise_var, prior_var=prior_var, iterations=cfg.cg_iterations,
                weight_scale=cfg.dc_weight,
            )
        else:
            sampler = functools.partial(ddim, eta=1.0)
            weighting = "dps" if cfg.noise_std is None else "gaussian"
            consistency = GradientGuidance(
                A, y, step=cfg.dps_step, noise_var=noise_var, prior_var=prior_var,
                weighting=weighting,
            )

    def sample(key: jax.Array, sign: float | jax.Array = 1.0) -> jax.Array:
        k0, k1 = jax.random.split(key)
        x = (offset + sign * initial_noise(k0, A.in_shape, A.in_dtype, sigmas[0])).astype(
            A.in_dtype)
        return sampler(denoiser, consistency, sigmas, x, k1, noise_sign=sign)

    return sample


def least_squares_estimate(A: LinearOperator, y: jax.Array, iterations: int = 10) -> jax.Array:
    """A few CG iterations on ``A^H A x = A^H y`` from zero (early stopping regularises)."""
    x, _ = cg(A.N, A.H(y), tol=cg_tolerance(A.in_dtype), maxiter=iterations)
    return x


def intensity_scale(A: LinearOperator, y: jax.Array, target_level: float) -> jax.Array:
    """Factor ``c`` such that the image ``x / c`` has its 99.5th magnitude percentile at
    ``target_level``, estimated from :func:`least_squares_estimate`."""
    level = jnp.percentile(jnp.abs(least_squares_estimate(A, y)), 99.5)
    return jnp.maximum(level, jnp.finfo(jnp.float32).tiny) / target_level


def reconstruct(
    denoiser: Callable,
    A: LinearOperator,
    y: jax.Array,
    cfg: DiffusionConfig,
    key: jax.Array,
    prior_var: float = 0.09,
    x_start: jax.Array | None = None,
    **settings: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Posterior mean and per-pixel standard deviation of ``x`` given ``y = A x + n``.

    (:func:`reconstruct_samples` also returns the samples; ``settings`` are its traced
    ``sigmas`` and ``dc_weight``.)

    ``x_start``: the estimate a warm start (``cfg.start_sigma``) begins at, in the data's
    units (e.g. an L1-wavelet reconstruction of ``y``).

    Pure JAX: jit it with ``cfg`` static (``jax.jit(reconstruct, static_argnums=(0, 3))``) or
    vmap it over measurements. ``prior_var`` is the prior's data variance (EDM's
    ``sigma_data²``).
    """
    mean, std, _ = reconstruct_samples(denoiser, A, y, cfg, key, prior_var, x_start, **settings)
    return mean, std


def reconstruct_samples(
    denoiser: Callable,
    A: LinearOperator,
    y: jax.Array,
    cfg: DiffusionConfig,
    key: jax.Array,
    prior_var: float = 0.09,
    x_start: jax.Array | None = None,
    sigmas: jax.Array | None = None,
    dc_weight: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """:func:`reconstruct` that also returns the posterior samples ``(n_samples, *image)``, all
    in the data's units: ``(mean, std, samples)``.

    Settings that may be traced (chosen inside jit, e.g. by :mod:`recon.validated_diffusion`):
    ``sigmas`` replaces the noise levels of ``cfg`` (:func:`noise_levels`; a warm start begins
    at ``sigmas[0]``), ``dc_weight`` multiplies the weight ``λ`` of the denoised estimate
    against the data in DDS's consistency step (as ``cfg.dc_weight`` does: it scales the noise
    variance ``λ`` is proportional to; > 1 trusts the prior more).
    """
    scale = intensity_scale(A, y, cfg.target_level)
    y_n = y / scale.astype(y.dtype)
    noise_var = 0.0 if cfg.noise_std is None else (cfg.noise_std / scale) ** 2
    if dc_weight is not None:
        noise_var = noise_var * dc_weight
    noise_var = jnp.asarray(noise_var, jnp.finfo(A.in_dtype).dtype)
    if x_start is not None:
        x_start = (jnp.asarray(x_start) / scale).astype(A.in_dtype)
    sample = build_sampler(cfg, denoiser, A, y_n, noise_var, prior_var, x_start, sigmas)
    batch = default_sample_batch() if cfg.sample_batch is None else cfg.sample_batch
    antithetic = cfg.antithetic and cfg.n_samples % 2 == 0
    mean, std, samples = posterior_samples(sample, key, cfg.n_samples, batch_size=batch,
                                           antithetic=antithetic)
    return (mean * scale.astype(mean.dtype), std * scale,
            samples * scale.astype(samples.dtype))
