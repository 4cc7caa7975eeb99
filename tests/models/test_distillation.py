"""Distilling a teacher prior (``run.distill_from``): the loss, the training wiring, bad input."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import checkpoints
from models.edm import ModelConfig, build_network, denoise_channels, init_params
from models.fit import Trainer
from models.losses import edm_loss
from recon.cli import main

TEACHER = ModelConfig(base_channels=8, channel_mults=(1, 2), emb_dim=16, sigma_data=0.25)
STUDENT = {"architecture": "stem-unet", "stem": 2, "base_channels": 8, "channel_mults": [1, 2],
           "mid_blocks": 1, "attention_heads": 2, "emb_dim": 16, "sigma_data": 0.25}


def _config(teacher_dir, model=None, patch=16, steps=40):
    return {
        "name": "student",
        "model": dict(model or STUDENT),
        "train": {"steps": steps, "batch_size": 4, "learning_rate": 3e-3, "warmup_steps": 5,
                  "p_mean": -1.5, "p_std": 1.0, "seed": 2},
        "data": {"kind": "ellipses", "patch": patch},
        "run": {"log_every": 5, "checkpoint_every": 1000, "keep": 1, "figures": False,
                "distill_from": str(teacher_dir)},
    }


def _perturbed(params, key, scale=0.03):
    """Random non-zero weights everywhere (the zero-initialised output layers included), so the
    teacher is a non-trivial function."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        tree, [a + scale * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys, strict=True)]
    )


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("teacher") / "w"
    params = _perturbed(init_params(TEACHER, jax.random.key(0)), jax.random.key(1))
    checkpoints.export_weights(d, params, TEACHER)
    return d


def _teacher_fn(folder):
    mc, params = checkpoints.load_weights(folder)
    net = build_network(mc)
    return lambda x, s: denoise_channels(net.apply, params, x, s, mc.sigma_data)


def test_loss_is_zero_when_student_is_teacher(teacher_dir):
    """A student equal to its teacher has zero distillation loss and zero gradient (no gradient
    flows into the target), while the ordinary EDM loss of the same network is positive."""
    mc, params = checkpoints.load_weights(teacher_dir)
    net = build_network(mc)
    y = jax.random.uniform(jax.random.key(3), (2, 16, 16, 1))
    key = jax.random.key(4)

    def loss(p, target_fn):
        return edm_loss(net.apply, p, y, key, mc.sigma_data, -1.5, 1.0, target_fn)

    value, grads = jax.value_and_grad(loss)(params, _teacher_fn(teacher_dir))
    assert float(value) == 0.0
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads))
    assert float(loss(params, None)) > 0.0
    # the identity target is the ordinary loss
    np.testing.assert_allclose(loss(params, lambda noisy, s: y), loss(params, None), rtol=1e-6)


def _distillation_error(trainer, teacher_fn, n=8):
    """Mean EDM-weighted squared distance between student and teacher on fixed noisy
    held-out images."""
    y = trainer.batch(10_000)[:n] if n <= trainer.tc.batch_size else None
    y = jnp.concatenate([trainer.batch(10_000 + i) for i in range(2)])[:n] if y is None else y
    net = build_network(trainer.mc)
    errs = [edm_loss(net.apply, trainer.state["params"], y, jax.random.key(50 + i),
                     trainer.mc.sigma_data, -1.5, 1.0, teacher_fn) for i in range(4)]
    return float(np.mean(errs))


def test_student_learns_the_teacher(teacher_dir, tmp_path):
    """40 distillation steps of a space-to-depth student shrink its distance to a U-Net teacher
    of another architecture at least threefold."""
    trainer = Trainer(_config(teacher_dir), tmp_path / "run")
    assert trainer.teacher is not None and trainer.teacher[0] == TEACHER
    teacher_fn = _teacher_fn(teacher_dir)
    before = _distillation_error(trainer, teacher_fn)
    summary = trainer.run(progress=False)
    after = _distillation_error(trainer, teacher_fn)
    assert summary["steps"] == 40
    print(f"distillation error {before:.4g} -> {after:.4g}")
    assert after < before / 3, (before, after)


def test_student_equal_to_teacher_does_not_move(teacher_dir, tmp_path):
    """Through the whole training path: a student started at the teacher's weights has loss 0
    and its parameters stay exactly where they were."""
    cfg = _config(teacher_dir, model=TEACHER.to_dict(), steps=2)
    cfg["run"]["init_from"] = str(teacher_dir)
    trainer = Trainer(cfg, tmp_path / "same")
    start = jax.device_get(trainer.state["params"])
    trainer.run(progress=False)
    log = [json.loads(line) for line in (tmp_path / "same" / "log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in log] == [0.0]
    end = jax.device_get(trainer.state["params"])
    for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(end), strict=True):
        np.testing.assert_array_equal(a, b)


def _missing_teacher(c, t):
    c["run"]["distill_from"] = str(t.parent / "missing")


def _missing_warm_start(c, t):
    c["run"]["init_from"] = str(t.parent / "missing")


def _complex_student(c, t):
    """A complex MRI student of the real-valued teacher."""
    c["data"]["kind"] = "brain"
    c["model"]["complex"] = True


def _odd_patch(c, t):
    """A U-Net student that takes 17x17 crops; the teacher needs multiples of 2."""
    c["model"] = {**TEACHER.to_dict(), "channel_mults": [1]}
    c["data"]["patch"] = 17


@pytest.mark.parametrize(
    "change, message",
    [
        (_missing_teacher, r"run\.distill_from: .*missing does not hold config\.json"),
        (_missing_warm_start, r"run\.init_from: .*missing does not hold config\.json"),
        (_complex_student, r"run\.distill_from: the teacher's model\.complex is False, this "
                           r"run's True"),
        (_odd_patch, r"data\.patch: 17 is not a multiple of 2"),
    ],
)
def test_bad_teacher_is_one_line_error(teacher_dir, tmp_path, capsys, change, message):
    """A missing or unusable teacher (or warm start): exit 2, one line, no workdir."""
    cfg = _config(teacher_dir)
    change(cfg, teacher_dir)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    assert main(["train", "--config", str(path), "--workdir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err
    assert not (tmp_path / "run").exists()
