"""``recon demo`` (the README's first command) runs offline on the shipped data and priors."""

import json

from recon.cli import main


def test_demo_writes_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--nfe", "2", "--samples", "2"]) == 0
    report = json.loads((out / "demo.json").read_text())
    assert len(report) == 2
    for rows in report.values():
        assert [r["method"].split()[0] for r in rows][-1] == "dds"
        assert all(r["PSNR"] > 10 for r in rows)
    html = (out / "demo.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "recon demo" in html
    assert (out / "demo.png").stat().st_size > 10_000
    assert "PSNR" in capsys.readouterr().out


def test_demo_rejects_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--nfe", "0"]) == 2
    assert "--nfe" in capsys.readouterr().err
