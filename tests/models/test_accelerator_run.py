"""The GPU path of issue 15 (``experiments/accelerator_run.py``), checked on CPU with the tiny
config that ``experiments/train_on_accelerator.sh --tiny`` uses."""

import json
import pathlib
import subprocess

import pytest

from experiments.accelerator_run import main, plan
from models.checkpoints import load_weights
from models.fit import load_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "experiments" / "configs" / "accelerator"


def test_plan_fits_steps_and_decay_into_the_budget():
    cfg = load_config(CONFIGS / "ct-ellipses.json")
    planned = plan(cfg, {"first_s": 30.0, "step_s": 0.05}, minutes=10)
    steps = planned["train"]["steps"]
    assert steps == int(0.9 * (600 - 30) / 0.05)
    assert planned["train"]["decay_steps"] == steps - planned["train"]["warmup_steps"]
    assert steps * 0.05 + 30 <= 600
    # the config's step count is a cap; a budget too small for the warm-up still trains
    assert plan(cfg, {"first_s": 1.0, "step_s": 1e-6}, 10)["train"]["steps"] == \
        cfg["train"]["steps"]
    tight = plan(cfg, {"first_s": 599.0, "step_s": 1.0}, 10)["train"]
    assert tight["steps"] == 1 and tight["warmup_steps"] == 0 and tight["decay_steps"] == 1


@pytest.mark.parametrize("name", ["ct-ellipses.json", "mri-brain.json"])
def test_full_scale_configs_resolve(name):
    cfg = load_config(CONFIGS / name)
    assert cfg["model"]["architecture"] == "stem-unet"
    assert cfg["data"]["patch"] in (128, 256)  # full images, not patches


def test_tiny_run_trains_exports_and_denoises(tmp_path):
    cfg = json.loads((CONFIGS / "tiny-ct.json").read_text())
    cfg["train"]["steps"] = 6
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(cfg))
    assert main(["--config", str(path), "--minutes", "5", "--out", str(tmp_path / "out"),
                 "--probe-steps", "2", "--heldout", "2"]) == 0
    summary = json.loads((tmp_path / "out" / "ct-ellipses" / "summary.json").read_text())
    assert summary["training"]["steps"] == summary["planned_steps"] == 6
    assert summary["training"]["stopped_by"] == "steps"
    assert [r["sigma"] for r in summary["denoising"]] == [0.05, 0.1, 0.2]
    config, _params = load_weights(tmp_path / "out" / "weights" / "ct-ellipses")
    assert config.architecture == "stem-unet" and config.base_channels == 8


def test_script_help_and_bad_option():
    script = ROOT / "experiments" / "train_on_accelerator.sh"
    ok = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "--wheelhouse" in ok.stdout
    bad = subprocess.run([str(script), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
