"""FBP / FDK accuracy (against scikit-image's iradon and analytic phantoms), filters, noise."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio as psnr

from operators.ct import cone_beam, fan_beam, parallel_beam
from recon.ct import phantom
from recon.ct.fbp import FILTERS, fbp, fdk, filter_sinogram, ramp_filter
from recon.ct.noise import gaussian, poisson_transmission


def test_fbp_parallel_at_least_as_accurate_as_iradon():
    """Same analytic (noise-free) sinogram to both; odd N so both use the same pixel grid."""
    from skimage.transform import iradon

    n = 129
    theta = np.linspace(0.0, 180.0, 90, endpoint=False)
    angles = -np.deg2rad(theta)
    sino = phantom.parallel_sinogram((n, n), angles, n).astype(np.float32)
    truth = phantom.shepp_logan((n, n), supersample=4)
    ref = iradon(sino.T.astype(np.float64), theta, circle=True, filter_name="ramp")
    ours = np.asarray(fbp(parallel_beam((n, n), angles, n), jnp.asarray(sino)))
    assert ours.dtype == np.float32
    p_ref = psnr(truth, ref, data_range=1.0)
    p_ours = psnr(truth, ours, data_range=1.0)
    assert p_ours >= p_ref - 0.01, (p_ours, p_ref)
    assert p_ours > 28.0


@pytest.mark.parametrize("detector", ["flat", "arc"])
def test_fbp_fan(detector):
    n = 64
    F = fan_beam(
        (n, n),
        np.linspace(0, 2 * np.pi, 180, endpoint=False),
        100,
        200.0,
        100.0,
        det_spacing=1.5,
        detector=detector,
    )
    truth = phantom.shepp_logan((n, n), supersample=4)
    rec = np.asarray(fbp(F, jnp.asarray(phantom.projections(F), jnp.float32)))
    scale = float(np.sum(rec * truth) / np.sum(rec * rec))
    assert abs(scale - 1) < 0.05
    assert psnr(truth, rec, data_range=1.0) > 25.0


def test_fdk_reconstructs_3d_shepp_logan():
    n = 32
    C = cone_beam(
        (n, n, n),
        np.linspace(0, 2 * np.pi, 60, endpoint=False),
        (40, 52),
        120.0,
        80.0,
        det_spacing=(1.5, 1.5),
    )
    truth = phantom.shepp_logan((n, n, n), supersample=2)
    rec = np.asarray(fdk(C, jnp.asarray(phantom.projections(C), jnp.float32)))
    assert rec.shape == (n, n, n)
    scale = float(np.sum(rec * truth) / np.sum(rec * rec))
    assert abs(scale - 1) < 0.1
    assert psnr(truth, rec, data_range=1.0) > 20.0
    # the same through the generic entry point
    assert np.allclose(
        np.asarray(fbp(C, jnp.asarray(phantom.projections(C), jnp.float32))), rec, atol=1e-5
    )


def test_ramp_filter_family():
    n_det = 100
    ram = ramp_filter(n_det, "ram-lak")
    freqs = np.abs(np.fft.fftfreq(ram.shape[0]))
    mid = (freqs > 0.05) & (freqs < 0.45)
    assert np.allclose(ram[mid], freqs[mid], rtol=0.02)  # |f| in cycles per bin
    for name in FILTERS:
        win = ramp_filter(n_det, name)
        assert np.all(win <= ram + 1e-12) and np.all(win >= -1e-12)
    half = ramp_filter(n_det, "hann", frequency_scaling=0.5)
    assert np.all(half[freqs > 0.25] == 0) and np.all(half[(freqs > 0) & (freqs < 0.2)] > 0)
    with pytest.raises(ValueError, match="filter"):
        ramp_filter(n_det, "parzen")
    with pytest.raises(ValueError, match="frequency_scaling"):
        ramp_filter(n_det, "hann", frequency_scaling=0.0)
    # a constant row filters to ~0 (the ramp kills DC) away from the ends
    q = filter_sinogram(jnp.ones((1, 64)), "ram-lak")
    assert float(jnp.max(jnp.abs(q[0, 16:48]))) < 0.02


def test_fbp_bad_input():
    A = parallel_beam((16, 16), np.linspace(0, np.pi, 10, endpoint=False), 23)
    with pytest.raises(ValueError, match=r"\(10, 23\)"):
        fbp(A, jnp.ones((10, 22)))
    with pytest.raises(ValueError, match="CT projector"):
        fbp(object(), jnp.ones((10, 23)))
    with pytest.raises(ValueError, match="cone_beam"):
        fdk(A, jnp.ones((10, 23)))


def test_poisson_transmission_noise():
    sino = jnp.full((50, 40), 2.0, jnp.float32)
    key = jax.random.PRNGKey(3)
    a = poisson_transmission(key, sino, photons=1e4)
    assert a.dtype == jnp.float32 and a.shape == sino.shape
    assert np.array_equal(np.asarray(a), np.asarray(poisson_transmission(key, sino, 1e4)))
    assert not np.array_equal(
        np.asarray(a), np.asarray(poisson_transmission(jax.random.PRNGKey(4), sino, 1e4))
    )
    # post-log mean ~ line integral; std ~ 1/sqrt(expected counts)
    assert abs(float(jnp.mean(a)) - 2.0) < 0.01
    expected_std = 1.0 / np.sqrt(1e4 * np.exp(-2.0))
    assert abs(float(jnp.std(a)) / expected_std - 1) < 0.1
    # full absorption: zero counts are replaced by 0.1 photons (as dival), so values are finite
    dark = poisson_transmission(key, jnp.full((4, 4), 100.0), photons=100.0, mu=1.0)
    assert np.allclose(np.asarray(dark), -np.log(0.1 / 100.0))
    with pytest.raises(ValueError, match="photons"):
        poisson_transmission(key, sino, photons=0)


def test_gaussian_noise():
    sino = jnp.zeros((200, 100), jnp.float64)
    noisy = gaussian(jax.random.PRNGKey(0), sino, 0.5)
    assert noisy.dtype == jnp.float64
    assert abs(float(jnp.std(noisy)) - 0.5) < 0.01
    rel = gaussian(jax.random.PRNGKey(0), jnp.ones((200, 100)) * 4, 0.1, relative=True)
    assert abs(float(jnp.std(rel)) - 0.4) < 0.01
