"""Orbax checkpoints: exact round trip, bit-identical resume, wrong architecture refused."""

import json

import jax
import numpy as np
import pytest

from models import checkpoints
from models.config_schema import ConfigError
from models.edm import ModelConfig
from models.fit import Trainer

TINY = {
    "name": "tiny",
    "model": {
        "complex": False,
        "base_channels": 8,
        "channel_mults": [1],
        "emb_dim": 16,
        "sigma_data": 0.25,
    },
    "train": {
        "steps": 4,
        "batch_size": 8,
        "learning_rate": 2e-3,
        "warmup_steps": 5,
        "p_mean": -1.8,
        "p_std": 1.0,
        "seed": 3,
    },
    "data": {"kind": "ellipses", "patch": 16},
    "run": {"log_every": 1, "checkpoint_every": 2, "keep": 2, "figures": False},
}


def _leaves_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 4-step run and a run stopped at 2 steps then resumed to 4."""
    base = tmp_path_factory.mktemp("ckpt")
    full = Trainer(TINY, base / "full")
    full.run(progress=False)
    part = Trainer(TINY, base / "part")
    part.run(steps=2, progress=False)
    resumed = Trainer(TINY, base / "part")  # a new process would do exactly this
    assert int(resumed.state["step"]) == 2
    resumed.run(progress=False)
    return base, full, resumed


def test_resume_is_bit_identical(runs):
    _, full, resumed = runs
    assert int(full.state["step"]) == int(resumed.state["step"]) == 4
    _leaves_equal(jax.device_get(full.state), jax.device_get(resumed.state))


def test_round_trip_exact_and_keep_last_n(runs):
    base, full, _ = runs
    mngr = checkpoints.make_manager(base / "full" / "checkpoints")
    assert sorted(mngr.all_steps()) == [2, 4]  # keep = 2 of steps 2, 4
    restored = checkpoints.restore(mngr, full.state, full.config)
    _leaves_equal(jax.device_get(full.state), jax.device_get(restored))
    stored = checkpoints.read_config(mngr)
    assert stored == json.loads(json.dumps(full.config))  # resolved config stored with weights
    assert stored["train"]["ema_decay"] == 0.999  # a default filled in by resolution


def test_wrong_architecture_refused(runs):
    base, _, _ = runs
    other = json.loads(json.dumps(TINY))
    other["model"]["base_channels"] = 16
    with pytest.raises(checkpoints.ConfigMismatchError, match=r"base_channels.*8.*16"):
        Trainer(other, base / "full")


def test_exported_weights_round_trip_and_refusal(runs, tmp_path):
    _, full, _ = runs
    ema = jax.device_get(full.state["ema"])
    checkpoints.export_weights(tmp_path / "w", ema, full.mc)
    cfg, params = checkpoints.load_weights(tmp_path / "w", expected=full.mc)
    assert cfg == full.mc
    _leaves_equal(ema, params)
    wrong = ModelConfig(complex=False, base_channels=8, channel_mults=(1, 2), emb_dim=16)
    with pytest.raises(checkpoints.ConfigMismatchError, match="channel_mults"):
        checkpoints.load_weights(tmp_path / "w", expected=wrong)
    # a config.json edited by hand to another architecture: the shape check catches it
    d = json.loads((tmp_path / "w" / "config.json").read_text())
    d["model"]["base_channels"] = 12
    (tmp_path / "w" / "config.json").write_text(json.dumps(d))
    with pytest.raises(checkpoints.ConfigMismatchError, match="shapes"):
        checkpoints.load_weights(tmp_path / "w")


def test_init_from_exported_weights_fine_tunes_them(runs, tmp_path):
    """``run.init_from`` starts a new run at exported weights (params and EMA); a run that has
    checkpoints resumes from them instead; another architecture is refused."""
    _, full, _ = runs
    ema = jax.device_get(full.state["ema"])
    checkpoints.export_weights(tmp_path / "w", ema, full.mc)
    cfg = json.loads(json.dumps(TINY))
    cfg["run"]["init_from"] = str(tmp_path / "w")
    tuned = Trainer(cfg, tmp_path / "tune")
    assert int(tuned.state["step"]) == 0
    _leaves_equal(jax.device_get(tuned.state["params"]), ema)
    _leaves_equal(jax.device_get(tuned.state["ema"]), ema)
    tuned.run(steps=2, progress=False)
    moved = jax.tree.leaves(jax.device_get(tuned.state["params"]))
    assert any(not np.array_equal(a, b) for a, b in zip(moved, jax.tree.leaves(ema), strict=True))
    again = Trainer(cfg, tmp_path / "tune")  # resumes its own checkpoint, not the weights
    assert int(again.state["step"]) == 2
    _leaves_equal(jax.device_get(again.state), jax.device_get(tuned.state))
    other = json.loads(json.dumps(cfg))
    other["model"]["base_channels"] = 16
    with pytest.raises(ConfigError, match=r"run\.init_from: .*base_channels"):
        Trainer(other, tmp_path / "other")
    assert not (tmp_path / "other").exists()  # nothing half-written
