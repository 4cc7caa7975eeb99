"""The operation count and matrix-product rate that bound the prior forward-pass benchmark."""

import jax.numpy as jnp
import pytest

from experiments.bench_prior_forward import compiled_gflop, matmul_gflops


def test_compiled_gflop_counts_a_matrix_product():
    """XLA's count for an n x k by k x m product is 2 n k m operations."""
    a, b = jnp.ones((64, 96), jnp.float32), jnp.ones((96, 80), jnp.float32)
    assert compiled_gflop(lambda x, y: x @ y, a, b) == pytest.approx(2 * 64 * 96 * 80 / 1e9,
                                                                     rel=0.01)


def test_matmul_rate_is_a_positive_finite_rate():
    rate = matmul_gflops(n=128, rounds=3)
    assert 0.1 < rate < 1e6
