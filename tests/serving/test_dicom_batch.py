"""DICOM output (``recon mri --dicom``, ``recon serve --dicom``) and many inputs
(``recon mri IN... --out-dir``)."""

from __future__ import annotations

import shutil
import subprocess

import h5py
import numpy as np
import pytest

from recon.cli import main
from tests.serving.conftest import write_scan


def _series(folder):
    import pydicom

    series = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(series) == 1
    files = sorted(series[0].glob("*.dcm"))
    return files, [pydicom.dcmread(f) for f in files]


def _check_dicom(files, sets, ref) -> None:
    assert len(sets) == ref.shape[0]
    assert len({d.SeriesInstanceUID for d in sets}) == 1
    assert len({d.SOPInstanceUID for d in sets}) == len(sets)
    for d in sets:
        assert d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and d.Modality == "MR"
        assert (d.Rows, d.Columns) == ref.shape[1:]
        assert [float(v) for v in d.PixelSpacing] == [8.0, 8.0]  # 256 mm / 32
        assert float(d.SliceThickness) == 5.0
        assert len(d.ImageOrientationPatient) == 6 and len(d.ImagePositionPatient) == 3
        assert "zero-filled" in d.SeriesDescription
        img = d.pixel_array.astype(np.float64) * float(d.RescaleSlope)
        r = ref[d.InstanceNumber - 1]
        assert np.max(np.abs(img - r)) <= 0.5 * float(d.RescaleSlope) * 1.001
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed: DICOM not "
                    "validated against the IOD")
    for f in files:
        out = subprocess.run(["dciodvfy", str(f)], capture_output=True, text=True)
        errors = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]
        assert errors == [], errors


def test_recon_mri_dicom(tmp_path, scan):
    dcm = tmp_path / "dicom"
    dcm.mkdir()
    out = tmp_path / "r.h5"
    assert main(["mri", str(scan), "--out", str(out), "--method", "zero-filled", "--dicom",
                 str(dcm)]) == 0
    with h5py.File(out) as f:
        ref = f["reconstruction"][()]
    _check_dicom(*_series(dcm), ref)


def test_server_dicom(tmp_path, scan):
    from recon.serving.client import read_stream, send
    from recon.serving.server import ReconServer

    dcm = tmp_path / "dicom"
    dcm.mkdir()
    srv = ReconServer("127.0.0.1", 0, workers=1, dicom=str(dcm))
    srv.start()
    try:
        xml, acqs = read_stream(scan)
        images, texts = send(xml, acqs, *srv.address, config="zero-filled", timeout=120)
    finally:
        srv.shutdown()
    assert texts == [] and len(images) == 2
    ref = np.stack([im.data[0, 0] for im in sorted(images, key=lambda i: i.slice)])
    _check_dicom(*_series(dcm), ref)


def test_many_inputs_resume_and_summary(tmp_path, scan, capsys):
    data = tmp_path / "in"
    data.mkdir()
    shutil.copy(scan, data / "a.h5")
    write_scan(data / "b.h5", seed=5)
    (data / "c.h5").write_bytes(b"not hdf5")
    out = tmp_path / "out"
    out.mkdir()
    args = ["mri", str(data), "--out-dir", str(out), "--method", "zero-filled"]
    assert main(args) == 2  # c.h5 is refused, a and b are written
    cap = capsys.readouterr()
    assert "c.h5" in cap.err
    err = cap.out
    assert "2 reconstructed, 0 skipped (output exists), 1 failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.h5", "b.h5"]
    for name in ("a", "b"):
        single = tmp_path / f"{name}_single.h5"
        assert main(["mri", str(data / f"{name}.h5"), "--out", str(single), "--method",
                     "zero-filled"]) == 0
        with h5py.File(single) as f1, h5py.File(out / f"{name}.h5") as f2:
            np.testing.assert_array_equal(f1["reconstruction"][()], f2["reconstruction"][()])
    (data / "c.h5").unlink()
    capsys.readouterr()
    assert main(args) == 0
    assert "0 reconstructed, 2 skipped (output exists), 0 failed" in capsys.readouterr().out


def test_many_inputs_need_out_dir(tmp_path, scan, capsys):
    assert main(["mri", str(scan), str(scan), "--out", str(tmp_path / "x.h5")]) == 2
    assert "--out-dir" in capsys.readouterr().err
