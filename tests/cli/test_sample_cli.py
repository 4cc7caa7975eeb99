"""``recon sample``: draws images from a shipped prior; bad arguments exit 2 with one line."""

import json

import numpy as np
import pytest

from recon.cli import main


def test_sample_writes_images(tmp_path, capsys):
    out = tmp_path / "samples"
    code = main(["sample", "--prior", "ct-ellipses", "--n", "2", "--size", "32", "--nfe", "4",
                 "--out", str(out)])
    assert code == 0
    images = np.load(out / "samples.npy")
    assert images.shape == (2, 32, 32) and np.all(np.isfinite(images))
    assert len(list(out.glob("sample_*.png"))) == 2
    assert json.loads((out / "samples.json").read_text())["nfe"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prior", "no-such-prior"], "unknown prior"),
        (["--prior", "ct-ellipses", "--n", "0"], "--n must be"),
        (["--prior", "ct-ellipses", "--nfe", "0"], "--nfe must be"),
    ],
)
def test_sample_bad_arguments(tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["sample", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()
