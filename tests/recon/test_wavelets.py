"""Orthogonal Daubechies wavelet: coefficients equal PyWavelets' (periodization), W^H W = I."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import pywt

from recon.wavelets import max_level, wavelet

RNG = np.random.default_rng(1)


@jax.jit
def _fwd(W, x):
    return W(x)


@jax.jit
def _adj(W, c):
    return W.H(c)


def _pack_pywt(x, name, levels):
    coeffs = pywt.wavedec2(x, name, mode="periodization", level=levels)
    out = np.zeros_like(x)
    h, w = coeffs[0].shape
    out[:h, :w] = coeffs[0]
    for cH, cV, cD in coeffs[1:]:
        h, w = cH.shape
        out[h : 2 * h, :w] = cH
        out[:h, w : 2 * w] = cV
        out[h : 2 * h, w : 2 * w] = cD
    return out


@pytest.mark.parametrize("name,levels", [("db4", 3), ("db2", 2), ("haar", 4), ("db4", 0)])
def test_matches_pywavelets_periodization(name, levels):
    x = RNG.standard_normal((64, 32)) + 1j * RNG.standard_normal((64, 32))
    W = wavelet(x.shape, name, levels, jnp.complex128)
    n = levels or max_level(x.shape, name)
    ref = _pack_pywt(x.real, name, n) + 1j * _pack_pywt(x.imag, name, n)
    np.testing.assert_allclose(np.asarray(_fwd(W, x)), ref, atol=1e-12)


def test_orthogonal_and_dtype_preserved():
    x = (RNG.standard_normal((32, 48)) + 1j * RNG.standard_normal((32, 48))).astype(np.complex64)
    W = wavelet(x.shape, "db4", 3)
    c = _fwd(W, x)
    assert c.dtype == jnp.complex64
    np.testing.assert_allclose(np.asarray(_adj(W, c)), x, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(c)), np.linalg.norm(x), rtol=1e-5)
    # W W^H = I too (orthogonal, not just an isometry)
    np.testing.assert_allclose(np.asarray(_fwd(W, _adj(W, c))), np.asarray(c), atol=2e-5)


def test_padding_for_indivisible_sizes_is_an_isometry():
    x = RNG.standard_normal((30, 21))
    W = wavelet(x.shape, "db4", 2, jnp.float64)
    assert W.out_shape == (32, 24)
    np.testing.assert_allclose(np.asarray(_adj(W, _fwd(W, x))), x, atol=1e-12)


def test_jit_and_vmap():
    x = RNG.standard_normal((3, 32, 32)).astype(np.float32)
    W = wavelet((32, 32), "db4", 2, jnp.float32)
    batched = jax.jit(jax.vmap(W))(x)
    np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(_fwd(W, x[1])), atol=1e-6)


def test_bad_wavelet_name():
    with pytest.raises(ValueError, match="orthogonal"):
        wavelet((8, 8), "bior2.2")
