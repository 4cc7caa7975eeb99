"""``recon train``: registered in the CLI, bad configs are one-line user errors (exit 2)."""

import json

from recon.cli import build_parser, main


def test_train_registered():
    args = build_parser().parse_args(["train", "--config", "c.json", "--steps", "3"])
    assert args.command == "train" and args.steps == 3


def test_missing_config_is_user_error(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "none.json")]) == 2
    assert "not found" in capsys.readouterr().err


def test_bad_config_is_user_error(tmp_path, capsys):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"data": {"kind": "ellipses"}, "model": {"depth": 3}}))
    assert main(["train", "--config", str(p)]) == 2
    assert "model.depth: unknown key" in capsys.readouterr().err
    p.write_text("{not json")
    assert main(["train", "--config", str(p)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_experiments_train_prior_is_recon_train(tmp_path, capsys):
    """The documented ``python -m experiments.train_prior`` gets the same one-line error."""
    from experiments.train_prior import main as train_prior

    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"data": {"kind": "ellipses"}, "train": {"bogus": 1}}))
    assert train_prior(["--config", str(p), "--workdir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "train.bogus: unknown key" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_workdir_of_another_architecture_is_user_error(tmp_path, capsys):
    """Resuming a --workdir whose checkpoints were made for another network: exit 2, one
    line, the checkpoints kept."""
    cfg = {"name": "t", "model": {"base_channels": 8, "channel_mults": [1], "emb_dim": 16},
           "train": {"steps": 1, "batch_size": 2}, "data": {"kind": "ellipses", "patch": 16},
           "run": {"figures": False}}
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg))
    run = str(tmp_path / "run")
    assert main(["train", "--config", str(p), "--workdir", run, "--no-progress"]) == 0
    capsys.readouterr()
    cfg["model"]["base_channels"] = 12
    p.write_text(json.dumps(cfg))
    assert main(["train", "--config", str(p), "--workdir", run, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "different model configuration" in err and "base_channels" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "run" / "checkpoints").is_dir()


def test_every_committed_config_resolves():
    """Every run config in experiments/configs passes the schema (no stale keys); those that
    name exported weights name folders of the repository."""
    import pathlib

    from models.fit import load_config

    root = pathlib.Path(__file__).resolve().parents[2]
    paths = sorted((root / "experiments" / "configs").rglob("*.json"))
    assert len(paths) > 5
    for path in paths:
        cfg = load_config(path)
        for key in ("init_from", "distill_from"):
            if cfg["run"][key] is not None:
                assert (root / cfg["run"][key] / "params.msgpack").is_file(), (path, key)
