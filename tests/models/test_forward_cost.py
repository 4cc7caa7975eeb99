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


def test_bench_times_an_exported_candidate_beside_the_shipped_prior(tmp_path):
    """``--candidate DIR``: an exported complex prior is timed on the same image, and its
    operation count is reported, next to the shipped ``mri-brain``."""
    import jax

    from experiments.bench_prior_forward import run
    from models import checkpoints
    from models.edm import ModelConfig, init_params

    mc = ModelConfig(complex=True, base_channels=8, channel_mults=(1, 2), emb_dim=16,
                     sigma_data=0.22)
    checkpoints.export_weights(tmp_path / "small", init_params(mc, jax.random.key(0)), mc)
    (comp,) = run(rounds=1, candidates=(str(tmp_path / "small"),))
    name = f"{tmp_path / 'small'}, 1 x 256x256 complex64"
    assert comp.median(name) > 0 and comp.median("mri-brain, 1 x 256x256 complex64") > 0
    small = float(comp.extra[f"{tmp_path / 'small'} GFLOP per 256x256 image"])
    shipped = float(comp.extra["mri-brain GFLOP per 256x256 image (XLA cost analysis)"])
    assert 0 < small < shipped
