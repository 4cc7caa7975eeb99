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
