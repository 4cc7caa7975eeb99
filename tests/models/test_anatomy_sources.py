"""Real anatomy sources of the MRI evaluation (experiments/eval_diffusion.py ``--data real``):
each loader returns finite 192x192 magnitude planes, or stops with a one-line message naming the
package to install. Sources that are not installed are skipped, with the reason."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from experiments.eval_diffusion import COLIN27, REAL_SOURCES, colin27_planes, md_table


def _check(planes: dict, n_val: int, n_test: int) -> None:
    assert [len(planes["val"]), len(planes["test"])] == [n_val, n_test]
    for p in planes["val"] + planes["test"]:
        assert p.shape == (192, 192) and p.dtype == np.float32
        assert np.isfinite(p).all() and p.min() >= 0 and p.max() > 0
        assert (p > 0.1 * p.max()).mean() > 0.05  # a head, not an empty frame
    stack = np.stack(planes["val"] + planes["test"])
    assert len({p.tobytes() for p in stack}) == len(stack)  # distinct planes


@pytest.mark.skipif(not COLIN27.is_file(),
                    reason=f"{COLIN27} absent: Debian package mricron-data not installed")
def test_colin27_planes():
    _check(colin27_planes(), 2, 5)


@pytest.mark.skipif(importlib.util.find_spec("dipy") is None, reason="dipy not installed")
def test_dipy_planes():
    _check(REAL_SOURCES["dipy"](), 2, 5)


def test_colin27_missing_is_one_clear_message(tmp_path):
    with pytest.raises(SystemExit, match="apt-get install mricron-data"):
        colin27_planes(tmp_path / "ch2.nii.gz")


def test_md_table():
    text = md_table([{"method": "a", "PSNR": 30.123456}, {"method": "b", "PSNR dipy": 1.0}])
    assert text.splitlines() == ["| method | PSNR | PSNR dipy |", "|---|---|---|",
                                 "| a | 30.12 |  |", "| b |  | 1 |"]


# ----------------------------------------------------- SynthSeg-style training images (item 3)
def _label_maps(size: int = 64) -> np.ndarray:
    """A disc 'brain': WM core, GM ring, CSF spot in the middle; T1 channel unused; the
    head-layer coordinate of :func:`models.data.brain.load_volumes` (1 mm pixels)."""
    from models.data.brain import HEAD_MM

    r = np.hypot(*np.meshgrid(*(np.arange(size) - (size - 1) / 2,) * 2, indexing="ij"))
    wm = ((r > 5) & (r < 16)).astype(np.float32)
    gm = ((r >= 16) & (r < 26)).astype(np.float32)
    csf = (r <= 5).astype(np.float32)
    head = np.clip(1.0 - np.maximum(r - 26, 0) / HEAD_MM, 0, 1).astype(np.float32)
    return np.stack([gm, wm, csf, np.zeros_like(gm), head])


def test_synthseg_deterministic_and_varied():
    import jax

    from models.data.brain import synthesize_synthseg

    maps = jax.numpy.asarray(_label_maps())
    run = jax.jit(jax.vmap(synthesize_synthseg, (0, None)))
    keys = jax.random.split(jax.random.key(3), 16)
    a, b = np.asarray(run(keys, maps)), np.asarray(run(keys, maps))
    np.testing.assert_array_equal(a, b)  # same key, same image
    assert a.dtype == np.complex64 and a.shape == (16, 64, 64) and np.isfinite(a).all()
    assert np.abs(a).max() <= 1.0 + 1e-5 and np.abs(a).max(axis=(1, 2)).min() > 0.5
    assert len({x.tobytes() for x in a}) == 16
    # random per-label contrasts: WM brighter than GM in some images, darker in others
    r = np.hypot(*np.meshgrid(*(np.arange(64) - 31.5,) * 2, indexing="ij"))
    mag = np.abs(a)
    diff = mag[:, (r > 8) & (r < 12)].mean(1) - mag[:, (r > 19) & (r < 23)].mean(1)
    assert diff.max() > 0.1 and diff.min() < -0.1, diff
    # skull and scalp: in some images the 3-12 mm outside the brain are brighter than the air
    # beyond (bright scalp), in others not (skull-stripped, or a dark scalp)
    shell = mag[:, (r > 31) & (r < 36)].mean(1) - mag[:, r > 44].mean(1)
    assert shell.max() > 0.15 and shell.min() < 0.05, shell


def test_synthseg_is_opt_in():
    import json
    import pathlib

    from models.data.brain import BrainSource
    from models.data.registry import make_source
    from models.fit import resolve_config

    assert BrainSource(patch=16).synthseg is False
    root = pathlib.Path(__file__).resolve().parents[2] / "experiments" / "configs"
    for name in ("mri-brain.json", "mri-brain-stem.json"):
        cfg = resolve_config(json.loads((root / name).read_text()))
        assert cfg["data"]["synthseg"] is False  # the shipped priors' data are unchanged
    cfg = resolve_config(json.loads((root / "mri-brain-synthseg.json").read_text()))
    assert make_source(cfg["data"]).synthseg is True


def test_synthseg_fraction_mixes_and_is_checked():
    """``synthseg_fraction`` draws per image between the two syntheses (0 and 1: one only);
    outside [0, 1] it is refused."""
    import jax

    from models.data import brain
    from models.data.registry import make_source

    with pytest.raises(ValueError, match="synthseg_fraction"):
        make_source({"kind": "brain", "synthseg": True, "synthseg_fraction": 1.5})
    vols = jax.numpy.asarray(np.stack([np.pad(m, 40) for m in _label_maps(64)])[..., None]
                             .repeat(160, axis=-1))  # a column: every plane sees the disc
    key = jax.random.key(5)
    plain, synth, mixed = (np.asarray(brain._sample(vols, key, 8, 32, f)) for f in (0.0, 1.0, 0.5))
    same_plain = [np.array_equal(m, p) for m, p in zip(mixed, plain, strict=True)]
    same_synth = [np.array_equal(m, s) for m, s in zip(mixed, synth, strict=True)]
    assert all(a or b for a, b in zip(same_plain, same_synth, strict=True))
    assert any(same_plain) and any(same_synth)
