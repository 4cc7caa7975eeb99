"""The space-to-depth U-Net with bottleneck attention: lossless stem, identity at initialisation,
any image size, global receptive field, configuration checks, and old weight files still load."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import checkpoints
from models.edm import EDMDenoiser, ModelConfig, build_network, init_params
from models.stem_unet import depth_to_space, space_to_depth

SMALL = ModelConfig(complex=True, architecture="stem-unet", stem=2, base_channels=8,
                    channel_mults=(1, 2), attention_heads=2, emb_dim=16, sigma_data=0.3)


def test_space_to_depth_is_a_lossless_rearrangement():
    x = jax.random.normal(jax.random.key(0), (2, 8, 12, 3))
    y = space_to_depth(x, 2)
    assert y.shape == (2, 4, 6, 12)
    np.testing.assert_array_equal(depth_to_space(y, 2), x)
    # pixel (1, 0) of the first 2x2 block is channel group (1 * 2 + 0) of pixel (0, 0)
    np.testing.assert_array_equal(y[0, 0, 0, 6:9], x[0, 1, 0])


def test_untrained_network_is_the_identity_plus_zero_map():
    params = init_params(SMALL, jax.random.key(1))
    den = EDMDenoiser(SMALL, params)
    x = (jax.random.normal(jax.random.key(2), (20, 28)) * (1 + 1j)).astype(jnp.complex64)
    s = 0.2
    c_skip = SMALL.sigma_data**2 / (s**2 + SMALL.sigma_data**2)
    np.testing.assert_allclose(den(x, s), c_skip * x, rtol=1e-6, atol=1e-6)  # padded size too


def test_attention_gives_a_global_receptive_field():
    """After one gradient step from the identity init (zero last layers), the output at one
    corner depends on the input at the opposite corner only through attention."""
    net = build_network(SMALL)
    params = init_params(SMALL, jax.random.key(3))
    params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.key(4), p.shape),
                          params)
    x0 = jax.random.normal(jax.random.key(5), (1, 96, 96, 2))

    def corner_out(x):
        return net.apply({"params": params}, x, jnp.zeros((1,)))[0, 0, 0, 0]

    g = jax.grad(corner_out)(x0)
    assert float(jnp.abs(g[0, -4:, -4:]).max()) > 0  # far corner: 88 pixels away
    no_attn = ModelConfig(**{**SMALL.to_dict(), "attention_heads": 0})
    net2 = build_network(no_attn)
    p2 = init_params(no_attn, jax.random.key(3))
    p2 = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.key(4), p.shape), p2)
    g2 = jax.grad(lambda x: net2.apply({"params": p2}, x, jnp.zeros((1,)))[0, 0, 0, 0])(x0)
    assert float(jnp.abs(g2[0, -4:, -4:]).max()) == 0  # convolutions alone do not reach it


def test_bfloat16_compute_stays_close_to_float32():
    params = jax.tree.map(lambda p: p + 0.02 * jax.random.normal(jax.random.key(6), p.shape),
                          init_params(SMALL, jax.random.key(7)))
    x = (jax.random.normal(jax.random.key(8), (16, 16)) * (1 + 1j)).astype(jnp.complex64)
    y32 = EDMDenoiser(SMALL, params)(x, 0.3)
    bf = ModelConfig(**{**SMALL.to_dict(), "dtype": "bfloat16"})
    y16 = EDMDenoiser(bf, params)(x, 0.3)
    assert y16.dtype == jnp.complex64
    rel = float(jnp.linalg.norm(y16 - y32) / jnp.linalg.norm(y32))
    assert rel < 0.02


@pytest.mark.parametrize("bad, message", [
    ({"architecture": "transformer"}, "architecture"),
    ({"dtype": "float16"}, "dtype"),
    ({"attention_heads": 3}, "divisible"),
    ({"architecture": "unet", "stem": 2}, "stem-unet"),
])
def test_invalid_architecture_options_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**SMALL.to_dict(), **bad})


def test_multiple_includes_the_stem():
    assert SMALL.multiple == 4
    assert ModelConfig(architecture="stem-unet", stem=4, channel_mults=(1, 2, 2)).multiple == 16


def test_weights_written_before_the_architecture_fields_still_load(tmp_path):
    old = ModelConfig(complex=False, base_channels=8, channel_mults=(1,), emb_dim=16)
    params = init_params(old, jax.random.key(0))
    d = checkpoints.export_weights(tmp_path / "w", params, old)
    cfg = json.loads((d / "config.json").read_text())
    for key in ("architecture", "stem", "mid_blocks", "attention_heads", "dtype"):
        del cfg["model"][key]
    (d / "config.json").write_text(json.dumps(cfg))
    loaded, _ = checkpoints.load_weights(d, expected=old)
    assert loaded == old
