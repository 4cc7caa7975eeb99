"""Batches sharded over 4 (forced CPU) devices give the same results as on one device."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.gaussian import GaussianDenoiser
from operators.fft import fftc
from operators.linop import FunctionOperator
from recon.diffusion.consistency import ConjugateGradientProx
from recon.diffusion.samplers import ddim, initial_noise
from recon.parallel import map_batched


def test_four_devices_available():
    assert len(jax.local_devices()) >= 4, "tests/conftest.py forces 4 CPU devices"


def test_sampling_batch_same_on_one_and_four_devices():
    n, batch = 8, 6  # 6 is not a multiple of 4: exercises the padding
    mask = jnp.asarray(np.random.default_rng(0).random((n, n)) < 0.5, jnp.float32)
    A = FunctionOperator(lambda v: mask * fftc(v), (n, n), jnp.complex64)
    prior = GaussianDenoiser(mean=jnp.zeros((n, n), jnp.complex64), var=jnp.asarray(0.25))
    sigmas = jnp.concatenate([jnp.geomspace(5.0, 1e-2, 20), jnp.zeros(1)])
    ys = jax.vmap(lambda k: A(initial_noise(k, (n, n), jnp.complex64, 0.5)))(
        jax.random.split(jax.random.PRNGKey(0), batch)
    )
    keys = jax.random.split(jax.random.PRNGKey(1), batch)

    def reconstruct(example, shared):
        y, key = example
        dc = ConjugateGradientProx(A, y, noise_var=jnp.asarray(1e-3), prior_var=0.25)
        k0, k1 = jax.random.split(key)
        x = initial_noise(k0, (n, n), jnp.complex64, sigmas[0])
        return ddim(shared, dc, sigmas, x, k1)

    four = map_batched(reconstruct, (ys, keys), prior)
    one = map_batched(reconstruct, (ys, keys), prior, devices=jax.local_devices()[:1])
    assert four.shape == (batch, n, n)
    np.testing.assert_allclose(np.asarray(four), np.asarray(one), rtol=1e-5, atol=1e-6)


def test_batch_size_mismatch_is_reported():
    with pytest.raises(ValueError, match="batch size"):
        map_batched(lambda e, s: e[0], (jnp.zeros((3, 2)), jnp.zeros((4, 2))))


def test_batch_is_split_across_devices():
    out = map_batched(lambda e, s: e * s, jnp.arange(8.0), 2.0)
    np.testing.assert_array_equal(np.asarray(out), np.arange(8.0) * 2)
    assert len(out.sharding.device_set) == 4
