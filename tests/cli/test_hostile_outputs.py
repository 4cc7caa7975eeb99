"""Hostile output paths, configs, weights and references through the command line, in-process.

Every case exits with status 2 and prints exactly one stderr line naming the problem in people's
words, writes nothing and leaves no temporary file (the promise of ``test_hostile_inputs``, whose
checker is reused). Also: ``--out`` equal to the input (three spellings) leaves the input byte for
byte, and outputs get the umask's mode, not the temporary file's 0600. Nothing here compiles a
reconstruction."""

from __future__ import annotations

import json
import os
import stat

import h5py
import numpy as np
import pytest

from recon.cli import main
from recon.io import write_fastmri
from tests.cli.test_hostile_inputs import _ct, _kspace, _refused, _weights

# -- output paths ---------------------------------------------------------------------------------


@pytest.fixture
def raw(tmp_path):
    p = tmp_path / "in.h5"
    write_fastmri(p, _kspace(2, 2, 16))
    return p


@pytest.fixture
def ct(tmp_path):
    p = tmp_path / "ct.h5"
    _ct(p)
    return p


@pytest.mark.parametrize("command", ["mri", "ct"])
def test_out_in_missing_folder(tmp_path, capsys, raw, ct, command):
    src = raw if command == "mri" else ct
    _refused(tmp_path, capsys, [command, src, "--out", tmp_path / "missing" / "o.h5"],
             "does not exist")


@pytest.mark.parametrize("command", ["mri", "ct"])
def test_out_is_a_folder(tmp_path, capsys, raw, ct, command):
    (tmp_path / "d").mkdir()
    src = raw if command == "mri" else ct
    _refused(tmp_path, capsys, [command, src, "--out", tmp_path / "d"], "is a folder")


@pytest.mark.parametrize("command", ["mri", "ct"])
def test_out_under_a_file(tmp_path, capsys, raw, ct, command):
    (tmp_path / "f").write_text("a file")
    src = raw if command == "mri" else ct
    _refused(tmp_path, capsys, [command, src, "--out", tmp_path / "f" / "o.h5"],
             "is not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
@pytest.mark.parametrize("command", ["mri", "ct"])
def test_out_in_read_only_folder(tmp_path, capsys, raw, ct, command):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        src = raw if command == "mri" else ct
        _refused(tmp_path, capsys, [command, src, "--out", ro / "o.h5"], "permission denied")
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("spelling", ["same", "dot-slash", "symlink", "hard-link"])
@pytest.mark.parametrize("command", ["mri", "ct"])
def test_out_is_the_input(tmp_path, capsys, monkeypatch, raw, ct, command, spelling):
    """The data-loss case of issue 18: the input must survive, byte for byte."""
    src = raw if command == "mri" else ct
    before = src.read_bytes()
    monkeypatch.chdir(tmp_path)
    out = {"same": src, "dot-slash": f"./{src.name}"}.get(spelling, tmp_path / "alias.h5")
    if spelling == "symlink":
        (tmp_path / "alias.h5").symlink_to(src)
    elif spelling == "hard-link":
        os.link(src, tmp_path / "alias.h5")
    _refused(tmp_path, capsys, [command, src.name, "--out", out], "is the input file")
    assert src.read_bytes() == before


def test_sample_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "f"
    f.write_text("a file")
    _refused(tmp_path, capsys, ["sample", "--prior", "ct-ellipses", "--out", f],
             "exists and is not a folder")
    _refused(tmp_path, capsys, ["sample", "--prior", "ct-ellipses", "--out", f / "sub"],
             "is a file, so the folder cannot be created")
    assert f.read_text() == "a file"


@pytest.mark.parametrize("command", [["demo"], ["eval", "--prior", "gaussian"]])
def test_report_out_is_a_file(tmp_path, capsys, command):
    f = tmp_path / "f"
    f.write_text("a file")
    _refused(tmp_path, capsys, [*command, "--out", f], "exists and is not a folder")


def _config(tmp_path, cfg, name="run.json"):
    p = tmp_path / name
    p.write_text(json.dumps(cfg))
    return p


def test_train_workdir_and_export_paths(tmp_path, capsys):
    cfg = _config(tmp_path, {"data": {"kind": "ellipses"}})
    f = tmp_path / "f"
    f.write_text("a file")
    _refused(tmp_path, capsys, ["train", "--config", cfg, "--workdir", f],
             "--workdir")
    _refused(tmp_path, capsys, ["train", "--config", cfg, "--workdir", tmp_path / "w",
                                "--export", f], "--export")
    _refused(tmp_path, capsys, ["train", "--config", cfg, "--workdir", cfg], "--workdir")
    _refused(tmp_path, capsys, ["train", "--config", cfg, "--steps", "-1"],
             "--steps must be >= 1")


def test_ct_negative_batch(tmp_path, capsys, ct):
    _refused(tmp_path, capsys, ["ct", ct, "--out", tmp_path / "o.h5", "--method", "dds",
                                "--batch", "-1"], "--batch must be >= 0")


# -- outputs get the umask's mode -----------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_output_mode_follows_umask(tmp_path, capsys, raw, umask):
    old = os.umask(umask)
    try:
        out = tmp_path / "o.h5"
        assert main(["-q", "mri", str(raw), "--out", str(out), "--method", "zero-filled"]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    with h5py.File(out) as f:
        assert f["reconstruction"].shape == (2, 16, 16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.h5", "o.h5"]


# -- train configs --------------------------------------------------------------------------------

E = {"kind": "ellipses"}


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        ({"data": E, "train": {"batch_size": "2"}},
         'train.batch_size: expected an integer, found "2" (a string)'),
        ({"data": E, "train": {"learning_rate": "fast"}},
         'train.learning_rate: expected a number, found "fast" (a string)'),
        ({"data": E, "model": {"base_channels": 8.5}},
         "model.base_channels: expected an integer, found 8.5 (a number)"),
        (None, "expected a JSON object with sections data, model, train, run, found null"),
        ([1, 2], "expected a JSON object"),
        ({"data": E, "run": {"keep": "three"}},
         'run.keep: expected an integer, found "three" (a string)'),
        ({"data": E, "model": {"channel_mults": "122"}},
         'model.channel_mults: expected a list of integers, found "122" (a string)'),
        ({"data": E, "model": {"channel_mults": [1, 0]}},
         "model.channel_mults: expected a non-empty list of positive numbers"),
        ({"data": E, "train": {"steps": -1}},
         "train.steps: expected a positive integer, found -1"),
        ({"data": E, "train": {"batch_size": 0}},
         "train.batch_size: expected a positive integer, found 0"),
        ({"data": E, "train": {"seed": -3}}, "train.seed: expected an integer >= 0"),
        ({"data": E, "model": {"complex": 1}},
         "model.complex: expected true or false, found 1 (an integer)"),
        ({"data": E, "run": {"init_from": 3}},
         "run.init_from: expected a string or null, found 3"),
        ({"model": {}}, "data: missing (expected an object)"),
        ({"data": {"kind": "cats"}}, 'data.kind: expected one of brain, ellipses, fastmri'),
        ({"data": {"kind": "fastmri"}}, "data.root: missing (expected a string)"),
        ({"data": {"kind": "ellipses", "size": "big"}},
         'data.size: expected an integer, found "big"'),
        ({"data": E, "optimiser": {}}, "optimiser: unknown key"),
        ({"data": E, "model": {"depth": 3}}, "model.depth: unknown key"),
        ({"data": E, "name": 3}, "name: expected a string, found 3"),
    ],
    ids=["batch-str", "lr-str", "channels-float", "null", "list", "keep-str", "mults-str",
         "mults-zero", "steps-neg", "batch-zero", "seed-neg", "bool-int", "init-from-int",
         "no-data", "bad-kind", "missing-root", "data-type", "unknown-section", "unknown-key",
         "name-int"],
)
def test_train_config_schema(tmp_path, capsys, cfg, needle):
    p = _config(tmp_path, cfg)
    line = _refused(tmp_path, capsys, ["train", "--config", p, "--workdir", tmp_path / "w"],
                    needle)
    assert str(p) in line  # the file is named


def test_schema_covers_new_fields():
    """A field added to a dataclass is checked with no change to the schema module."""
    import dataclasses

    from models import config_schema as cs

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        heads: int = 4
        ratio: float = 0.5
        names: tuple[str, ...] = ("a",)
        shift: float = -1.0
        mode: str | None = None

    fields = cs.dataclass_fields(Cfg)
    ok, problems = cs.check_section({"heads": 2, "shift": -5.0, "names": ["x"]}, fields, "f",
                                    "s")
    assert problems == [] and ok["heads"] == 2 and ok["ratio"] == 0.5
    _, problems = cs.check_section({"heads": 0, "ratio": "x", "names": "ab", "mode": 1,
                                    "other": 1}, fields, "f", "s")
    assert problems == [
        "s.other: unknown key (expected one of heads, mode, names, ratio, shift)",
        "s.heads: expected a positive integer, found 0 (an integer)",
        's.ratio: expected a number, found "x" (a string)',
        's.names: expected a list of strings, found "ab" (a string)',
        "s.mode: expected a string or null, found 1 (an integer)",
    ]


# -- weights config.json --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda c: {k: v for k, v in c.items() if k != "model"}, "expected a JSON object with "
         "a 'model' object"),
        (lambda c: {**c, "model": {**c["model"], "base_channels": "8"}},
         'model.base_channels: expected an integer, found "8" (a string)'),
        (lambda c: {**c, "model": {**c["model"], "heads": 2}}, "model.heads: unknown key"),
        (lambda c: {**c, "model": {**c["model"], "channel_mults": "122"}},
         "model.channel_mults: expected a list of integers"),
        (lambda c: None, "found null"),
    ],
    ids=["no-model", "channels-str", "unknown-key", "mults-str", "null"],
)
def test_bad_weights_config(tmp_path, capsys, monkeypatch, edit, needle):
    root = _weights(tmp_path)
    cfg_path = root / "ct-ellipses" / "config.json"
    cfg_path.write_text(json.dumps(edit(json.loads(cfg_path.read_text()))))
    monkeypatch.setenv("RECON_WEIGHTS_DIR", str(root))
    line = _refused(tmp_path, capsys, ["sample", "--prior", "ct-ellipses", "--n", "1", "--out",
                                       tmp_path / "samples"], needle)
    assert str(cfg_path) in line


def test_weights_json_and_msgpack_errors_name_the_file(tmp_path, capsys, monkeypatch):
    root = _weights(tmp_path)
    d = root / "ct-ellipses"
    monkeypatch.setenv("RECON_WEIGHTS_DIR", str(root))
    argv = ["sample", "--prior", "ct-ellipses", "--n", "1", "--out", tmp_path / "samples"]
    good = (d / "config.json").read_text()
    (d / "config.json").write_text(good[:20])
    assert str(d / "config.json") in _refused(tmp_path, capsys, argv, "is not valid JSON")
    (d / "config.json").write_text(good)
    (d / "params.msgpack").write_bytes(b"\x93not msgpack")
    assert str(d / "params.msgpack") in _refused(tmp_path, capsys, argv, "cannot read")


# -- degenerate references in recon metrics -------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        (np.zeros((2, 8, 8)), "the reference is all zero"),
        (np.full((2, 8, 8), 3.0), "the reference is constant (3 everywhere)"),
        (-np.abs(np.random.default_rng(0).standard_normal((2, 8, 8))) - 0.1,
         "must be positive"),
        (np.where(np.eye(8, dtype=bool)[None], np.nan, 1.0) * np.ones((2, 8, 8)),
         "NaN or Inf"),
        (np.where(np.eye(8, dtype=bool)[None], np.inf, 1.0) * np.ones((2, 8, 8)),
         "NaN or Inf"),
    ],
    ids=["zero", "constant", "negative", "nan", "inf"],
)
def test_degenerate_reference(tmp_path, capsys, ref, needle):
    out, refp = tmp_path / "out.h5", tmp_path / "ref.h5"
    with h5py.File(out, "w") as f:
        f["reconstruction"] = np.random.default_rng(1).random((2, 8, 8)).astype(np.float32)
    with h5py.File(refp, "w") as f:
        f["reconstruction_rss"] = ref.astype(np.float32)
    line = _refused(tmp_path, capsys, ["metrics", out, refp], needle)
    assert str(refp) in line
