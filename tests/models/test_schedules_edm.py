"""Noise schedules and the EDM denoiser wrapper (no training)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.edm import EDMDenoiser, ModelConfig, init_params, preconditioning
from models.schedules import karras_sigmas, ve_sigmas, vp_sigma, vp_sigmas


@pytest.mark.parametrize(
    "fn",
    [
        lambda: karras_sigmas(10, 0.002, 80.0),
        lambda: ve_sigmas(10, 0.01, 50.0),
        lambda: vp_sigmas(10),
    ],
)
def test_schedules_decrease_to_zero(fn):
    s = np.asarray(fn())
    assert s.dtype == np.float32 and s.shape == (11,)
    assert s[-1] == 0 and np.all(np.diff(s) < 0)


def test_schedule_endpoints():
    s = np.asarray(karras_sigmas(7, 0.002, 80.0, rho=7.0))
    np.testing.assert_allclose([s[0], s[-2]], [80.0, 0.002], rtol=1e-5)
    s = np.asarray(ve_sigmas(5, 0.01, 100.0))
    np.testing.assert_allclose(s[:-1], 100.0 * 1e-4 ** (np.arange(5) / 4), rtol=1e-5)
    np.testing.assert_allclose(float(vp_sigma(1.0)), np.sqrt(np.expm1(19.9 / 2 + 0.1)), rtol=1e-5)


def test_schedule_bad_input():
    with pytest.raises(ValueError, match="sigma_min"):
        karras_sigmas(10, 1.0, 0.5)
    with pytest.raises(ValueError, match="at least 2"):
        ve_sigmas(1)


def test_preconditioning_formulas():
    s, sd = jnp.float32(0.7), 0.5
    c_skip, c_out, c_in, c_noise = preconditioning(s, sd)
    np.testing.assert_allclose(c_skip, sd**2 / (0.49 + sd**2), rtol=1e-6)
    np.testing.assert_allclose(c_out, 0.7 * sd / np.sqrt(0.49 + sd**2), rtol=1e-6)
    np.testing.assert_allclose(c_in, 1 / np.sqrt(0.49 + sd**2), rtol=1e-6)
    np.testing.assert_allclose(c_noise, np.log(0.7) / 4, rtol=1e-6)


@pytest.fixture(scope="module")
def tiny():
    cfg = ModelConfig(complex=True, base_channels=8, channel_mults=(1, 2), emb_dim=16)
    params = init_params(cfg, jax.random.key(0))
    # perturb the zero-initialised output head so the network is not the zero map
    params = jax.jit(
        lambda ps: jax.tree.map(
            lambda p: p + 0.05 * jax.random.normal(jax.random.key(1), p.shape, p.dtype), ps
        )
    )(params)
    return EDMDenoiser(cfg, params)


def test_denoiser_complex_shapes_dtypes_and_padding(tiny):
    x = (jax.random.normal(jax.random.key(2), (2, 13, 10)) * (1 + 1j)).astype(jnp.complex64)
    y = tiny(x, jnp.array([0.1, 0.5], jnp.float32))
    assert y.shape == x.shape and y.dtype == jnp.complex64
    y0 = tiny(x[0], 0.1)
    assert y0.shape == (13, 10) and y0.dtype == jnp.complex64
    np.testing.assert_allclose(y0, y[0], rtol=1e-5, atol=1e-6)
    assert jnp.all(jnp.isfinite(y.real)) and float(jnp.abs(y - x).max()) > 0


def test_untrained_denoiser_is_c_skip_identity():
    cfg = ModelConfig(complex=False, base_channels=8, channel_mults=(1,), emb_dim=16)
    den = EDMDenoiser(cfg, init_params(cfg, jax.random.key(0)))  # zero output head: F = 0
    x = jax.random.normal(jax.random.key(3), (8, 8), jnp.float32)
    c_skip = preconditioning(jnp.float32(0.4), cfg.sigma_data)[0]
    np.testing.assert_allclose(den(x, 0.4), c_skip * x, rtol=1e-6)


def test_score_is_tweedie(tiny):
    x = (jax.random.normal(jax.random.key(4), (8, 8)) * 1j).astype(jnp.complex64)
    s = 0.3
    np.testing.assert_allclose(tiny.score(x, s), (tiny(x, s) - x) / s**2, rtol=1e-5, atol=1e-5)
    # jit and grad go through the wrapper
    g = jax.grad(lambda a: jnp.sum(jnp.abs(jax.jit(tiny.__call__)(a, s)) ** 2))(x)
    assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g.real)))


def test_denoiser_bad_input(tiny):
    with pytest.raises(ValueError, match="complex"):
        tiny(jnp.zeros((8, 8), jnp.float32), 0.1)
    with pytest.raises(ValueError, match="shape"):
        tiny(jnp.zeros((1, 1, 8, 8), jnp.complex64), 0.1)
