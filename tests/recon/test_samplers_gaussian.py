"""Sampler correctness without trained weights (DESIGN.md): with a Gaussian prior the exact
denoiser and the exact posterior are known, so each sampler + data-consistency module must draw
samples whose mean and per-pixel variance match the closed form.

Problem: 8x8 complex image, prior N(m, s²) per real component, single-coil Cartesian sampling
``A = M F`` (M a binary mask, F the centred orthonormal FFT), noise std σ_y per component.
In the Fourier domain the posterior is diagonal: precision ``M/σ_y² + 1/s²``, so the image-domain
per-pixel variance is the mean over frequencies of the Fourier-domain variances.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.gaussian import GaussianDenoiser
from operators.fft import fftc, ifftc
from operators.linop import FunctionOperator
from recon.diffusion.consistency import (
    ConjugateGradientProx,
    DataConsistency,
    GradientGuidance,
    Projection,
    standard_noise,
)
from recon.diffusion.samplers import ddim, initial_noise, posterior_samples, predictor_corrector

N = 8
PRIOR_VAR = 0.25
N_SAMPLES = 2000
SIGMAS = jnp.concatenate([jnp.geomspace(5.0, 1e-2, 200), jnp.zeros(1)])


def problem(noise_std: float, dtype=jnp.complex128):
    rng = np.random.default_rng(0)
    mask = (rng.random((N, N)) < 0.4).astype(np.float64)
    mask[N // 2, N // 2] = 1.0
    mask = jnp.asarray(mask)
    A = FunctionOperator(lambda v: mask * fftc(v), (N, N), dtype)
    yy, xx = jnp.mgrid[0:N, 0:N] / N
    mean = (0.5 + 0.3 * jnp.sin(2 * jnp.pi * xx) + 0.2j * yy).astype(dtype)
    prior = GaussianDenoiser(mean=mean, var=jnp.asarray(PRIOR_VAR))
    key = jax.random.PRNGKey(7)
    x_true = mean + jnp.sqrt(PRIOR_VAR) * standard_noise(key, (N, N), dtype)
    y = A(x_true) + noise_std * mask * standard_noise(jax.random.PRNGKey(8), (N, N), dtype)
    # closed form, diagonal in the Fourier domain
    precision = mask / max(noise_std, 1e-30) ** 2 + 1.0 / PRIOR_VAR if noise_std > 0 else None
    if noise_std > 0:
        k_mean = (y / noise_std**2 + fftc(mean) / PRIOR_VAR) / precision
        k_var = 1.0 / precision
    else:  # noiseless: measured frequencies are known exactly, the others follow the prior
        k_mean = jnp.where(mask > 0, y, fftc(mean))
        k_var = jnp.where(mask > 0, 0.0, PRIOR_VAR)
    post_mean = ifftc(k_mean)
    post_var = jnp.full((N, N), jnp.mean(k_var))  # per real component, every pixel
    return A, y, prior, post_mean, post_var


def check_moments(samples, post_mean, post_var):
    mean = jnp.mean(samples, axis=0)
    var = jnp.var(samples.real, axis=0, ddof=1)  # per real component
    mean_err = float(jnp.max(jnp.abs(mean - post_mean)) / jnp.sqrt(jnp.mean(post_var)))
    var_ratio = float(jnp.mean(var) / jnp.mean(post_var))
    # Monte-Carlo: mean error ~ 4/sqrt(K) in posterior std units; pooled variance ~ 1 %
    assert mean_err < 4.5 / np.sqrt(N_SAMPLES) * 2, f"mean error {mean_err:.3f} posterior stds"
    assert abs(var_ratio - 1.0) < 0.06, f"variance ratio {var_ratio:.3f}"
    return mean_err, var_ratio


def run(sampler, consistency, prior, seed=0):
    def one(key):
        k0, k1 = jax.random.split(key)
        x = initial_noise(k0, (N, N), jnp.complex128, SIGMAS[0])
        return sampler(prior, consistency, SIGMAS, x, k1)

    keys = jax.random.split(jax.random.PRNGKey(seed), N_SAMPLES)
    return jax.jit(jax.vmap(one))(keys)


def test_unconditional_ddim_matches_prior():
    _A, _y, prior, _, _ = problem(0.1)
    samples = run(ddim, DataConsistency(), prior)
    check_moments(samples, prior.mean, jnp.full((N, N), PRIOR_VAR))


def test_dds_matches_closed_form_posterior():
    A, y, prior, post_mean, post_var = problem(0.1)
    dc = ConjugateGradientProx(A, y, noise_var=jnp.asarray(0.01), prior_var=PRIOR_VAR,
                               iterations=3)
    samples = run(ddim, dc, prior)
    print("DDS mean error, variance ratio:", check_moments(samples, post_mean, post_var))


def test_dps_gaussian_weighting_matches_closed_form_posterior():
    A, y, prior, post_mean, post_var = problem(0.1)
    dc = GradientGuidance(A, y, step=1.0, noise_var=jnp.asarray(0.01), prior_var=PRIOR_VAR,
                          weighting="gaussian")
    samples = run(ddim, dc, prior)
    print("DPS mean error, variance ratio:", check_moments(samples, post_mean, post_var))


def test_score_mri_projection_matches_noiseless_posterior():
    A, y, prior, post_mean, post_var = problem(0.0)
    # Langevin's finite step inflates the variance by O(snr²); snr = 0.1 keeps it below 3 %.
    sampler = functools.partial(predictor_corrector, snr=0.1)
    samples = run(sampler, Projection(A, y, iterations=2), prior)
    print("PC mean error, variance ratio:", check_moments(samples, post_mean, post_var))


def test_wrong_consistency_is_detected():
    """The moment check can fail: ignoring the data does not reproduce the posterior."""
    _A, _y, prior, post_mean, post_var = problem(0.1)
    samples = run(ddim, DataConsistency(), prior)
    with pytest.raises(AssertionError):
        check_moments(samples, post_mean, post_var)


def _signed_dds_sampler(A, y, prior):
    dc = ConjugateGradientProx(A, y, noise_var=jnp.asarray(0.01), prior_var=PRIOR_VAR,
                               iterations=3)

    def sampler(key, sign=1.0):
        k0, k1 = jax.random.split(key)
        x = sign * initial_noise(k0, (N, N), jnp.complex128, SIGMAS[0])
        return ddim(prior, dc, SIGMAS, x, k1, noise_sign=sign)

    return sampler


def test_posterior_samples_mean_and_std():
    A, y, prior, _post_mean, post_var = problem(0.1)
    sampler = _signed_dds_sampler(A, y, prior)

    mean, std, samples = jax.jit(lambda k: posterior_samples(sampler, k, 512))(
        jax.random.PRNGKey(3)
    )
    assert samples.shape == (512, N, N)
    # complex std = sqrt(2 * per-component variance)
    ratio = float(jnp.mean(std**2) / jnp.mean(2 * post_var))
    assert abs(ratio - 1.0) < 0.1, ratio
    again, _, _ = jax.jit(lambda k: posterior_samples(sampler, k, 512))(jax.random.PRNGKey(3))
    np.testing.assert_array_equal(np.asarray(mean), np.asarray(again))


@pytest.mark.parametrize("batch_size", [1, 3])
def test_posterior_samples_batching_changes_speed_not_samples(batch_size):
    """Samples drawn one at a time or in uneven batches (lax.map) equal the vmapped ones."""
    A, y, prior, _post_mean, _post_var = problem(0.1)
    sampler = _signed_dds_sampler(A, y, prior)
    key = jax.random.PRNGKey(5)
    _, _, vmapped = jax.jit(lambda k: posterior_samples(sampler, k, 7))(key)
    mean, std, mapped = jax.jit(
        lambda k: posterior_samples(sampler, k, 7, batch_size=batch_size))(key)
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(vmapped), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(mean), np.asarray(jnp.mean(vmapped, 0)), atol=1e-12)
    assert std.shape == (N, N)


def test_antithetic_pair_mean_is_the_gaussian_posterior_mean():
    """With a Gaussian prior each DDS sample is an affine function of its noise (CG is exact in
    two steps on a masked orthonormal FFT), so the mean of one antithetic pair is the sampler's
    output at zero noise, which is the closed-form posterior mean up to the discretisation of
    the noise levels; two independent samples miss it by about two posterior stds."""
    A, y, prior, post_mean, post_var = problem(0.1)
    sampler = _signed_dds_sampler(A, y, prior)
    key = jax.random.PRNGKey(11)
    scale = float(jnp.sqrt(jnp.mean(post_var)))
    mean, _, pair = jax.jit(lambda k: posterior_samples(sampler, k, 2, antithetic=True))(key)
    noiseless = jax.jit(lambda k: sampler(k, 0.0))(key)
    indep, _, _ = jax.jit(lambda k: posterior_samples(lambda kk: sampler(kk), k, 2))(key)

    def err(x):
        return float(jnp.max(jnp.abs(x - post_mean))) / scale

    print(f"max mean error in posterior stds: antithetic pair {err(mean):.2e}, "
          f"zero-noise run {err(noiseless):.2e}, independent pair {err(indep):.2f}")
    np.testing.assert_allclose(np.asarray(mean), np.asarray(noiseless), atol=1e-9 * scale)
    assert err(mean) < 0.02
    assert err(indep) > 0.3
    assert float(jnp.max(jnp.abs(pair[0] - pair[1]))) / scale > 1.0  # distinct samples


def test_antithetic_std_matches_closed_form_variance():
    A, y, prior, _post_mean, post_var = problem(0.1)
    sampler = _signed_dds_sampler(A, y, prior)
    _mean, std, _samples = jax.jit(
        lambda k: posterior_samples(sampler, k, 512, batch_size=128, antithetic=True))(
        jax.random.PRNGKey(12))
    ratio = float(jnp.mean(std**2) / jnp.mean(2 * post_var))  # complex: two components
    assert abs(ratio - 1.0) < 0.1, ratio
    with pytest.raises(ValueError, match="even"):
        posterior_samples(sampler, jax.random.PRNGKey(0), 3, antithetic=True)
