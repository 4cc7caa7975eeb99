"""``recon eval``: a tiny end-to-end report, ``evaluate`` with an injected prior, bad arguments.

The runs use the exact Gaussian prior (``--prior gaussian`` / ``gaussian_prior``), a documented
stand-in, so they need no trained weights and stay small (48x48 images, 4 NFE, 2 samples).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.registry import WEIGHTS_DIR
from recon.cli import main
from recon.evaluation.run import evaluate, gaussian_prior, sections


def test_eval_ct_writes_report(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["eval", "--out", str(out), "--modality", "ct", "--images", "1", "--size", "48",
                 "--nfe", "4", "--samples", "2", "--lesions", "3", "--prior", "gaussian"])
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {"eval.html", "eval.json", "eval.png"}
    tables = json.loads((out / "eval.json").read_text())
    verdicts = tables["Verdict: does diffusion erase or invent lesions?"]
    assert [v["modality"] for v in verdicts] == ["ct", "ct"]
    assert all(v["verdict"].startswith("CT: diffusion") and "tv (pdhg)" in v["verdict"]
               for v in verdicts)
    pixel = next(v for k, v in tables.items() if k.startswith("CT: pixel"))
    task_rows = next(v for k, v in tables.items() if k.startswith("CT: task"))
    assert [r["method"] for r in pixel][:2] == ["fbp (hann)", "tv (pdhg)"]
    for row in pixel:
        assert np.isfinite(row["PSNR"]) and 0 < row["SSIM"] <= 1 and row["texture FD"] >= 0
    for row in task_rows:
        assert 0 <= row["AUC"] <= 1 and np.isfinite(row["contrast recovery"])
    assert task_rows[-1][">3 std (%)"] != "n/a" and task_rows[0][">3 std (%)"] == "n/a"
    html = (out / "eval.html").read_text()
    assert "Verdict" in html and "data:image/png;base64" in html
    assert "recon eval --out" in html and "wrote" in capsys.readouterr().out


def test_evaluate_mri_with_injected_prior():
    """The denoiser is a parameter of ``evaluate``: here the exact Gaussian prior."""
    result = evaluate("mri", gaussian_prior("mri"), n_images=1, nfe=4, n_samples=2, size=64,
                      n_lesions=2, log=lambda _msg: None)
    assert result.denoiser_name == "GaussianStandIn"
    assert [m.kind for m in result.methods] == ["baseline", "classical", "diffusion",
                                                "validated"]
    assert result.truth_present.shape == (1, 64, 64)
    diffusion = result.methods[2]
    assert diffusion.std_absent is not None and np.all(diffusion.std_absent >= 0)
    # the lesions are in the simulated truth: its lesion difference peaks at their positions
    delta = result.truth_present[0] - result.truth_absent[0]
    for p, a in zip(result.lesions[0].positions, result.lesions[0].amplitudes, strict=True):
        assert delta[tuple(p)] == pytest.approx(a, rel=0.35)
    assert len(result.verdict) == 2 and all(s.startswith("MRI:") for s in result.verdict)
    secs = sections(result, "cmd")
    assert len(secs) == 3 and secs[0].figures and secs[1].rows
    # validated dds: per image its choice, the held-out residuals and the posterior agreement
    (row,) = secs[2].rows
    from recon import validated_diffusion as vd

    assert row["choice"] in vd.CANDIDATES
    assert all(row[f"r {name}"] > 0 for name in vd.CANDIDATES)
    assert np.isfinite(row["agreement"]) and row["floor"] > 0
    assert row["λ factor"] == vd.SETTINGS[0][1] and row["warm start"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--images", "0"], "--images must be"),
        (["--nfe", "0"], "--nfe must be"),
        (["--samples", "1"], "--samples must be"),
        (["--contrast", "1.5"], "--contrast must be"),
        (["--size", "8"], "--size must be"),
        (["--lesions", "0"], "--lesions must be"),
    ],
)
def test_eval_bad_arguments(tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["eval", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_eval_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["eval", "--out", str(f)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_eval_unknown_modality_exits_2(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--out", str(tmp_path / "x"), "--modality", "pet"])
    assert exc.value.code == 2


@pytest.mark.skipif((WEIGHTS_DIR / "ct-ellipses" / "params.msgpack").is_file(),
                    reason="shipped weights present")
def test_eval_missing_weights_is_a_user_error(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["eval", "--out", str(out), "--modality", "ct", "--prior", "shipped"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--prior gaussian" in err and len(err.splitlines()) == 1
    assert not out.exists()
