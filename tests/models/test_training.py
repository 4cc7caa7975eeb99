"""Training step: loss decreases, dtypes kept, 4-device sharded step equals the 1-device step."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.data.ellipses import EllipsesSource
from models.edm import ModelConfig, build_network, to_channels
from models.losses import edm_loss
from models.training import (
    TrainConfig,
    init_state,
    learning_rate,
    make_mesh,
    make_train_step,
    replicate,
    shard_batch,
    step_keys,
)

MC = ModelConfig(complex=False, base_channels=8, channel_mults=(1,), emb_dim=16, sigma_data=0.25)
TC = TrainConfig(batch_size=8, learning_rate=2e-3, warmup_steps=5, p_mean=-1.8, p_std=1.0)


def _batch(n, step=0):
    data_key, _ = step_keys(0, step)
    return to_channels(EllipsesSource(patch=16).sample(data_key, n), False)


def test_loss_decreases_on_tiny_run():
    tc = TC
    mesh = make_mesh(1)
    step = make_train_step(MC, tc, mesh)
    state = replicate(init_state(MC, tc), mesh)
    net = build_network(MC)
    eval_batch = _batch(8, step=10_000)
    eval_keys = [jax.random.key(100 + i) for i in range(4)]

    @jax.jit
    def eval_loss(params):
        losses = [
            edm_loss(net.apply, params, eval_batch, k, MC.sigma_data, -1.8, 1.0) for k in eval_keys
        ]
        return jnp.mean(jnp.stack(losses))

    before = float(eval_loss(state["params"]))
    for t in range(60):
        _, nk = step_keys(0, t)
        state, metrics = step(state, shard_batch(_batch(8, t), mesh), nk)
    after = float(eval_loss(state["params"]))
    print(f"tiny run: held-out EDM loss {before:.4f} -> {after:.4f} after 60 steps")
    assert int(state["step"]) == 60
    assert after < 0.8 * before
    leaves = jax.tree.leaves(state["params"]) + jax.tree.leaves(state["ema"])
    assert all(p.dtype == jnp.float32 for p in leaves)
    assert metrics["loss"].dtype == jnp.float32


def test_sharded_step_equals_single_device():
    if len(jax.local_devices()) < 4:
        pytest.skip("needs 4 local devices (tests/conftest.py forces 4 CPU devices)")
    tc1 = TC  # the 1-device step compiled by the test above is reused
    tc4 = dataclasses.replace(TC, num_devices=4)
    out = {}
    for tc in (tc1, tc4):
        mesh = make_mesh(tc.num_devices)
        step = make_train_step(MC, tc, mesh)
        state = replicate(init_state(MC, tc), mesh)
        losses = []
        for t in range(3):
            _, nk = step_keys(0, t)
            batch = shard_batch(_batch(8, t), mesh)
            if tc.num_devices == 4:
                assert len(batch.sharding.device_set) == 4
            state, m = step(state, batch, nk)
            losses.append(float(m["loss"]))
        out[tc.num_devices] = (jax.device_get(state), losses)
    np.testing.assert_allclose(out[1][1], out[4][1], rtol=1e-5)
    for a, b in zip(
        jax.tree.leaves(out[1][0]["params"]), jax.tree.leaves(out[4][0]["params"]), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_batch_not_divisible_refused():
    with pytest.raises(ValueError, match="divisible"):
        make_train_step(MC, TrainConfig(batch_size=6, num_devices=4), make_mesh(4))


def test_learning_rate_warms_up_then_holds_or_decays_to_zero():
    """Constant after warm-up by default; ``decay_steps`` adds a cosine decay to 0 (SGDR)."""
    const = learning_rate(TrainConfig(learning_rate=1e-3, warmup_steps=10))
    decay = learning_rate(TrainConfig(learning_rate=1e-3, warmup_steps=10, decay_steps=100))
    for f in (const, decay):
        assert float(f(0)) == 0.0 and float(f(5)) == pytest.approx(5e-4)
        assert float(f(10)) == pytest.approx(1e-3)
    assert float(const(110)) == pytest.approx(1e-3)
    assert float(decay(60)) == pytest.approx(5e-4, rel=1e-5)  # half-way down the cosine
    assert float(decay(110)) == pytest.approx(0.0, abs=1e-12)
    assert float(decay(500)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="decay_steps"):
        learning_rate(TrainConfig(decay_steps=-1))
