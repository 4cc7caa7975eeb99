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
