"""Diffusion posterior reconstruction on a 2-coil SENSE operator, with an exact Gaussian prior.

For ``A`` = 2-coil SENSE with a 1D mask (``A A^H`` is not a projection), DDS with CG run to
convergence and ``λ = σ_y²/v(σ)`` is the exact posterior denoiser, so its samples must match the
dense closed-form posterior ``N(μ, P^{-1})`` with ``P = A^H A/σ_y² + I/s²``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.gaussian import GaussianDenoiser
from operators.mri import sense
from recon.diffusion.consistency import standard_noise
from recon.diffusion.posterior import DiffusionConfig, build_sampler, reconstruct
from recon.diffusion.samplers import posterior_samples

N, COILS, PRIOR_VAR, NOISE_STD = 8, 2, 0.25, 0.1


def setup():
    rng = np.random.default_rng(1)
    maps = rng.standard_normal((COILS, N, N)) + 1j * rng.standard_normal((COILS, N, N))
    maps = maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))
    mask = np.zeros(N)
    mask[[0, 3, 4, 5]] = 1
    A = sense(jnp.asarray(maps, jnp.complex128), jnp.asarray(mask))
    mean = jnp.full((N, N), 0.3 + 0.1j, jnp.complex128)
    prior = GaussianDenoiser(mean=mean, var=jnp.asarray(PRIOR_VAR))
    x = mean + np.sqrt(PRIOR_VAR) * standard_noise(jax.random.PRNGKey(0), (N, N), jnp.complex128)
    y = A(x) + NOISE_STD * mask * standard_noise(jax.random.PRNGKey(1), A.out_shape,
                                                 jnp.complex128)
    # dense closed form
    basis = jnp.eye(N * N, dtype=jnp.complex128).reshape(N * N, N, N)
    mat = jax.vmap(lambda b: A(b).ravel())(basis).T  # (M, N*N)
    precision = mat.conj().T @ mat / NOISE_STD**2 + jnp.eye(N * N) / PRIOR_VAR
    cov = jnp.linalg.inv(precision)
    post_mean = cov @ (mat.conj().T @ y.ravel() / NOISE_STD**2 + mean.ravel() / PRIOR_VAR)
    return A, y, prior, post_mean.reshape(N, N), jnp.real(jnp.diag(cov)).reshape(N, N)


def test_dds_on_sense_matches_dense_posterior():
    A, y, prior, post_mean, post_var = setup()
    cfg = DiffusionConfig(method="dds", nfe=200, eta=1.0, cg_iterations=40, sigma_max=5.0,
                          sigma_min=0.01, noise_std=NOISE_STD)
    sample = build_sampler(cfg, prior, A, y, jnp.asarray(NOISE_STD**2), PRIOR_VAR)
    mean, _std, samples = jax.jit(lambda k: posterior_samples(sample, k, 1500))(
        jax.random.PRNGKey(2)
    )
    var = jnp.var(samples.real, axis=0, ddof=1)
    mean_err = float(jnp.max(jnp.abs(mean - post_mean)) / jnp.sqrt(jnp.mean(post_var)))
    var_ratio = float(jnp.mean(var) / jnp.mean(post_var))
    pixel_corr = float(jnp.corrcoef(var.ravel(), post_var.ravel())[0, 1])
    print(f"mean error {mean_err:.3f} post. std, variance ratio {var_ratio:.3f}, "
          f"per-pixel variance correlation {pixel_corr:.3f}")
    assert mean_err < 0.25
    assert abs(var_ratio - 1) < 0.06
    assert pixel_corr > 0.8  # the variance map has structure (coil geometry), and we match it


@pytest.mark.parametrize("method", ["dds", "dps", "score-mri"])
def test_reconstruct_runs_and_is_scale_equivariant(method):
    """Each method returns finite mean/std; scaling the data scales the result (same key)."""
    A, y, prior, _, _ = setup()
    cfg = DiffusionConfig(method=method, nfe=8, n_samples=2, sigma_max=5.0)
    run = jax.jit(lambda y_: reconstruct(prior, A, y_, cfg, jax.random.PRNGKey(0),
                                         prior_var=PRIOR_VAR))
    mean, std = run(y)
    assert mean.shape == (N, N) and std.shape == (N, N)
    assert bool(jnp.all(jnp.isfinite(mean))) and bool(jnp.all(jnp.isfinite(std)))
    mean10, _std10 = run(10.0 * y)
    np.testing.assert_allclose(np.asarray(mean10), 10 * np.asarray(mean), rtol=1e-6, atol=1e-9)


def test_dc_weight_scales_the_noise_variance_seen_by_dds():
    """``λ(σ) = dc_weight · σ_y² / v(σ)``: weight 4 with noise σ_y equals weight 1 with 2 σ_y."""
    A, y, prior, _, _ = setup()
    base = dict(method="dds", nfe=6, sigma_max=5.0, cg_iterations=3)
    run = jax.jit(lambda cfg, v: build_sampler(cfg, prior, A, y, v, PRIOR_VAR)(
        jax.random.PRNGKey(3)), static_argnums=0)
    a = run(DiffusionConfig(**base, dc_weight=4.0), jnp.asarray(NOISE_STD**2))
    b = run(DiffusionConfig(**base), jnp.asarray(4 * NOISE_STD**2))
    c = run(DiffusionConfig(**base), jnp.asarray(NOISE_STD**2))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)
    assert float(jnp.max(jnp.abs(a - c))) > 1e-3


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="nfe"):
        DiffusionConfig(nfe=0)
    with pytest.raises(ValueError, match="unknown method"):
        DiffusionConfig(method="magic")



def test_warm_start_matches_closed_form_of_start_as_measurement():
    """Warm start (CCDF): a sample starts at ``x_s = x_start + s n`` and DDS with the exact
    posterior denoiser draws ``p(x | x_s, y)``. Averaged over ``n`` that is Gaussian: ``x_start``
    acts as one more measurement of ``x`` with noise std ``s``, i.e. precision
    ``P = A^H A/σ_y² + I/s_p² + I/s²``, mean ``P⁻¹(A^H y/σ_y² + m/s_p² + x_start/s²)``, and the
    covariance ``P⁻¹ + P⁻²/s²`` (the start's noise propagated through the denoiser)."""
    A, y, prior, post_mean, _ = setup()
    start_sigma = 0.5
    x_start = post_mean + 0.8 - 0.6j  # a deliberately biased estimate
    cfg = DiffusionConfig(method="dds", nfe=150, eta=1.0, cg_iterations=40, sigma_max=5.0,
                          sigma_min=0.01, noise_std=NOISE_STD, start_sigma=start_sigma)
    sample = build_sampler(cfg, prior, A, y, jnp.asarray(NOISE_STD**2), PRIOR_VAR, x_start)
    mean, _std, samples = jax.jit(lambda k: posterior_samples(sample, k, 1500))(
        jax.random.PRNGKey(4)
    )
    basis = jnp.eye(N * N, dtype=jnp.complex128).reshape(N * N, N, N)
    mat = jax.vmap(lambda b: A(b).ravel())(basis).T
    eye = jnp.eye(N * N)
    precision = mat.conj().T @ mat / NOISE_STD**2 + eye / PRIOR_VAR + eye / start_sigma**2
    inv = jnp.linalg.inv(precision)
    want_mean = inv @ (mat.conj().T @ y.ravel() / NOISE_STD**2
                       + prior.mean.ravel() / PRIOR_VAR + x_start.ravel() / start_sigma**2)
    want_var = jnp.real(jnp.diag(inv + inv @ inv / start_sigma**2)).reshape(N, N)
    var = jnp.var(samples.real, axis=0, ddof=1)
    scale = jnp.sqrt(jnp.mean(want_var))
    mean_err = float(jnp.max(jnp.abs(mean - want_mean.reshape(N, N))) / scale)
    shift = float(jnp.max(jnp.abs(want_mean.reshape(N, N) - post_mean)) / scale)
    var_ratio = float(jnp.mean(var) / jnp.mean(want_var))
    print(f"mean error {mean_err:.3f} stds (the start shifts the mean by {shift:.2f}), "
          f"variance ratio {var_ratio:.3f}")
    assert shift > 1.5  # the start matters, so matching its closed form is a real check
    assert mean_err < 0.25
    assert abs(var_ratio - 1) < 0.06


def test_warm_start_is_scale_equivariant_and_validated():
    A, y, prior, post_mean, _ = setup()
    cfg = DiffusionConfig(method="dds", nfe=6, n_samples=2, sigma_max=5.0, start_sigma=0.3)
    run = jax.jit(lambda y_, x_: reconstruct(prior, A, y_, cfg, jax.random.PRNGKey(0),
                                             prior_var=PRIOR_VAR, x_start=x_))
    mean, _ = run(y, post_mean)
    mean10, _ = run(10.0 * y, 10.0 * post_mean)
    np.testing.assert_allclose(np.asarray(mean10), 10 * np.asarray(mean), rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="warm start needs both"):
        reconstruct(prior, A, y, cfg, jax.random.PRNGKey(0), prior_var=PRIOR_VAR)
    with pytest.raises(ValueError, match="warm start needs both"):
        reconstruct(prior, A, y, DiffusionConfig(sigma_max=5.0), jax.random.PRNGKey(0),
                    prior_var=PRIOR_VAR, x_start=post_mean)
    with pytest.raises(ValueError, match="x_start has shape"):
        reconstruct(prior, A, y, cfg, jax.random.PRNGKey(0), prior_var=PRIOR_VAR,
                    x_start=post_mean[:4])
    with pytest.raises(ValueError, match="start_sigma must be in"):
        DiffusionConfig(sigma_max=5.0, start_sigma=6.0)


def test_l1_warm_started_reconstruct_is_reconstruct_from_the_l1_image():
    """The `recon mri` default shared by the demo, eval and bench: L1-wavelet, then a warm start
    at ``MRI_WARM_START`` unless the config names a level; the L1 options are passed on."""
    import dataclasses

    from recon.evaluation.run import gaussian_prior
    from recon.slice_methods import MRI_WARM_START, l1_warm_started_reconstruct
    from recon.solvers.fista import fista_l1

    A, y, _, _, _ = setup()
    prior = gaussian_prior("mri", sigma_data=0.5)
    key = jax.random.PRNGKey(3)
    cfg = DiffusionConfig(method="dds", nfe=6, n_samples=2, sigma_max=5.0, noise_std=NOISE_STD)
    got = {}
    for level, lam in ((None, 4e-4), (0.4, 1e-2)):
        c = dataclasses.replace(cfg, start_sigma=level)
        got[level] = jax.jit(lambda y_, c=c, lam=lam: l1_warm_started_reconstruct(
            prior, A, y_, c, key, lam=lam)[0])(y)
        want_cfg = dataclasses.replace(cfg, start_sigma=level or MRI_WARM_START)
        want, _ = reconstruct(prior, A, y, want_cfg, key, prior_var=0.25,
                              x_start=fista_l1(A, y, lam=lam).x)
        np.testing.assert_allclose(np.asarray(got[level]), np.asarray(want), rtol=1e-5,
                                   atol=1e-7)
    # the start matters: another L1 weight at the same level gives another reconstruction
    other, _ = l1_warm_started_reconstruct(prior, A, y, cfg, key, lam=0.5)
    assert float(jnp.max(jnp.abs(other - got[None]))) > 1e-3
