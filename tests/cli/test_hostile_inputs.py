"""Hostile inputs through the command line, in-process: every case exits with status 2, prints
exactly one line on stderr (at the default verbosity) that names the problem in people's words
(no traceback, no Python signature, class name or NumPy repr), writes no output, leaves no
temporary file and keeps an existing output byte for byte.

Tiny files are made in each test; nothing here compiles a reconstruction, so the whole file
runs in seconds."""

from __future__ import annotations

import json
import re
import shutil

import h5py
import numpy as np
import pytest

from recon.cli import main
from recon.io import write_fastmri
from tests import ismrmrd_files as mrd

#: things no message for people contains
INTERNALS = re.compile(r"Traceback|__\w+__|\w+Type\.\w+|\w+Error\b|np\.\w+\(|<class |"
                       r"\bdtype\('|array\(")


def _refused(tmp_path, capsys, argv, needle, out=None):
    """Run ``recon argv``; check the promise of the module docstring; return the line."""
    existing = b"an older result that must survive"
    if out is not None:
        out.write_bytes(existing)
    before = {p.name for p in tmp_path.iterdir()}
    rc = main([str(a) for a in argv])
    stdout, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2, (rc, err)
    assert len(lines) == 1, lines
    assert needle in lines[0], lines[0]
    assert not INTERNALS.search(lines[0]), lines[0]
    assert stdout == ""
    after = {p.name for p in tmp_path.iterdir()}
    assert after == before, after ^ before  # no output, no temporary file
    if out is not None:
        assert out.read_bytes() == existing
    return lines[0]


def _kspace(slices=1, coils=2, n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((slices, coils, n, n))
            + 1j * rng.standard_normal((slices, coils, n, n))).astype(np.complex64)


def _mri(tmp_path, capsys, src, needle, *extra, glob=()):
    out = tmp_path / "out.h5"
    return _refused(tmp_path, capsys, [*glob, "mri", src, "--out", out, *extra], needle, out)


# -- fastMRI layout ----------------------------------------------------------------------------


def test_not_hdf5(tmp_path, capsys):
    p = tmp_path / "x.h5"
    p.write_text("this is not HDF5")
    _mri(tmp_path, capsys, p, "not a readable HDF5 file")


def test_truncated_hdf5(tmp_path, capsys):
    p = tmp_path / "full.h5"
    write_fastmri(p, _kspace(2, 4, 32))
    q = tmp_path / "trunc.h5"
    q.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    p.unlink()
    _mri(tmp_path, capsys, q, "truncated")


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda f: f.create_dataset("foo", data=np.zeros(3)), "no 'kspace' dataset"),
        (lambda f: f.create_group("kspace"), "'kspace' is a group"),
        (lambda f: f.create_dataset("kspace", data=np.ones((1, 2, 8, 8), np.float32)),
         "'kspace' must be complex"),
        (lambda f: f.create_dataset("kspace", data=np.ones((8, 8), np.complex64)),
         "found 2-D shape"),
        (lambda f: f.create_dataset("kspace", shape=(1, 2, 0, 8), dtype=np.complex64),
         "'kspace' is empty"),
        (lambda f: f.create_dataset("kspace", data=_kspace(1, 4)[0]),
         "pass --single-coil"),
    ],
    ids=["missing", "group", "real", "2d", "zero-size", "3d-ambiguous"],
)
def test_bad_kspace_dataset(tmp_path, capsys, make, needle):
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        make(f)
    _mri(tmp_path, capsys, p, needle)


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
def test_nan_inf_kspace(tmp_path, capsys, value):
    k = _kspace()
    k[0, 1, 3, 4] = value
    p = tmp_path / "nan.h5"
    write_fastmri(p, k)
    assert "1 NaN or Inf" in _mri(tmp_path, capsys, p, "'kspace' contains")


@pytest.mark.parametrize(
    ("mask", "needle"),
    [(np.zeros(16), "'mask' is all zero"), (np.ones(15), "expected (16,)"),
     (np.array(["a"] * 16), "'mask' must be numeric")],
    ids=["zero", "wrong-length", "strings"],
)
def test_bad_mask(tmp_path, capsys, mask, needle):
    p = tmp_path / "m.h5"
    with h5py.File(p, "w") as f:
        f["kspace"] = _kspace()
        f["mask"] = mask.astype("S1") if mask.dtype.kind == "U" else mask
    _mri(tmp_path, capsys, p, needle)


def test_2d_mask_contradicting_the_data(tmp_path, capsys):
    m = np.ones((16, 16), np.float32)
    m[5, 7] = 0
    p = tmp_path / "m2.h5"
    write_fastmri(p, _kspace(), m)
    _mri(tmp_path, capsys, p, "(first: row 5, column 7)")


def test_huge_declared_unwritten_kspace_is_refused_before_reading(tmp_path, capsys):
    p = tmp_path / "huge.h5"
    with h5py.File(p, "w") as f:  # 8 GiB declared, nothing written: a file of a few KB
        f.create_dataset("kspace", shape=(64, 64, 512, 512), dtype=np.complex64,
                         chunks=(1, 1, 64, 64))
    assert p.stat().st_size < 100_000
    _mri(tmp_path, capsys, p, "holds no data (never written)")


def test_huge_declared_kspace_over_the_memory_budget(tmp_path, capsys):
    p = tmp_path / "huge.h5"
    with h5py.File(p, "w") as f:  # 8 TiB declared, one chunk written
        ds = f.create_dataset("kspace", shape=(1000, 64, 4096, 4096), dtype=np.complex64,
                              chunks=(1, 1, 64, 64))
        ds[0, 0, :64, :64] = 1
    line = _mri(tmp_path, capsys, p, "of memory, more than")
    assert "nothing was read" in line and "TiB" in line


def test_max_memory_option(tmp_path, capsys):
    p = tmp_path / "ok.h5"
    write_fastmri(p, _kspace())
    _mri(tmp_path, capsys, p, "(--max-memory)", glob=["--max-memory", "2K"])
    out = tmp_path / "out.h5"
    _refused(tmp_path, capsys, ["--max-memory", "lots", "mri", p, "--out", out],
             "--max-memory must be a positive size", out)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [(["--method", "dds", "--nfe", "0"], "--nfe must be >= 1"),
     (["--method", "dds", "--samples", "0"], "--samples must be >= 1"),
     (["--iters", "0"], "--iters must be >= 1"),
     (["--encoding", "-1"], "--encoding must be >= 0")],
    ids=["nfe", "samples", "iters", "encoding"],
)
def test_bad_mri_options(tmp_path, capsys, extra, needle):
    p = tmp_path / "ok.h5"
    write_fastmri(p, _kspace())
    _mri(tmp_path, capsys, p, needle, *extra)


# -- ISMRMRD -------------------------------------------------------------------------------------


def _ismrmrd(tmp_path, xml, readouts, name="raw.h5"):
    p = tmp_path / name
    mrd.write(p, xml, readouts)
    return p


K = mrd.random_kspace(2, 16, 12)
SLICES = "<slice><minimum>0</minimum><maximum>2</maximum><center>0</center></slice>"


@pytest.mark.parametrize(
    ("xml", "needle"),
    [
        ("<ismrmrdHeader><encoding>", "not well-formed XML"),
        (mrd.header(mrd.encoding_xml(16, 12, recon_space=False)),
         "<encoding>/<reconSpace> is missing"),
        (mrd.header(mrd.encoding_xml(16, 12, trajectory="radial")),
         "<encoding>/<trajectory> is 'radial'; only cartesian"),
        (mrd.header(mrd.encoding_xml(16, 12, recon_ro=5)), "16 / 5 is not a whole number"),
        (mrd.header(mrd.encoding_xml(16, 12, z=4)), "is 4 (a 3-D encoding)"),
        (mrd.header(mrd.encoding_xml(16, 12), mrd.encoding_xml(16, 12)),
         "choose one with --encoding 0..1"),
        (mrd.header(mrd.encoding_xml(16, 12)).replace("<x>16</x>", "<x>sixteen</x>", 1),
         "must be a whole number, found 'sixteen'"),
    ],
    ids=["not-xml", "no-reconspace", "radial", "oversampling", "3d", "two-encodings",
         "not-a-number"],
)
def test_broken_ismrmrd_headers(tmp_path, capsys, xml, needle):
    p = _ismrmrd(tmp_path, xml, mrd.cartesian(K))
    line = _mri(tmp_path, capsys, p, needle)
    assert "ISMRMRD header" in line


def test_ismrmrd_encoding_out_of_range(tmp_path, capsys):
    p = _ismrmrd(tmp_path, mrd.header(mrd.encoding_xml(16, 12)), mrd.cartesian(K))
    _mri(tmp_path, capsys, p, "--encoding 3 does not exist", "--encoding", "3")


@pytest.mark.parametrize(
    ("readouts", "needle"),
    [
        (mrd.cartesian(K, slice=0) + mrd.cartesian(K, slice=2),
         "no imaging acquisitions for slice 1 (encodingLimits slice 0..2)"),
        (mrd.cartesian(K, slice=0) + mrd.cartesian(K, slice=3), "slice 3 is outside"),
        ([{**r, "flags": [19]} for r in mrd.cartesian(K)], "no imaging or calibration"),
        ([*(r for s in range(3) for r in mrd.cartesian(K, slice=s)),
          {"data": K[:, :, 0], "line": 40}],
         "phase-encode line 40 is outside the encoded matrix"),
        (mrd.cartesian(K, slice=0, contrast=0) + mrd.cartesian(K, slice=0, contrast=1),
         "2 values of the contrast counter"),
        ([{**r, "encoding": 1} for r in mrd.cartesian(K)], "encoding_space_ref 1"),
    ],
    ids=["missing-slice", "slice-outside-limits", "only-noise", "line-outside", "contrasts",
         "encoding-ref"],
)
def test_broken_ismrmrd_counters_and_flags(tmp_path, capsys, readouts, needle):
    xml = mrd.header(mrd.encoding_xml(16, 12, limits=SLICES))
    p = _ismrmrd(tmp_path, xml, readouts)
    _mri(tmp_path, capsys, p, needle)


def test_ismrmrd_header_matrix_over_the_budget(tmp_path, capsys):
    """A header claiming a 100000 x 100000 matrix: refused before the k-space is allocated."""
    xml = mrd.header(mrd.encoding_xml(100_000, 100_000))
    p = _ismrmrd(tmp_path, xml, [{"data": K[:, :, 0], "line": 50_000}])
    _mri(tmp_path, capsys, p, "of memory, more than")


# -- CT ------------------------------------------------------------------------------------------


def _ct(path, sino=None, angles=None, **attrs):
    sino = np.ones((1, 6, 9), np.float32) if sino is None else sino
    angles = np.linspace(0, np.pi, 6, endpoint=False) if angles is None else angles
    with h5py.File(path, "w") as f:
        if sino is not False:
            f["sinogram"] = sino
        f["angles"] = angles
        f.attrs["geometry"] = attrs.pop("geometry", "parallel")
        f.attrs["image_shape"] = attrs.pop("image_shape", np.array([8, 8]))
        for k, v in attrs.items():
            f.attrs[k] = v


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"angles": np.linspace(0, 1, 5)}, "has 6 angles on axis 1 but '/angles' has 5"),
        ({"angles": np.r_[np.linspace(0, 1, 5), np.nan]}, "'/angles' contains 1 NaN"),
        ({"pixel_size": -1.0}, "attribute 'pixel_size' must be a positive length, found -1.0"),
        ({"det_spacing": 0.0}, "attribute 'det_spacing' must be a positive length"),
        ({"geometry": "fan-flat", "source_origin": 0.0, "origin_det": 10.0},
         "attribute 'source_origin' must be a positive distance"),
        ({"geometry": "helical"}, "must be one of parallel, fan-flat, fan-arc, cone"),
        ({"image_shape": np.array([8, -8])}, "'image_shape' must hold 2 positive whole sizes"),
        ({"sino": False}, "missing dataset '/sinogram' (found: angles)"),
    ],
    ids=["angle-mismatch", "nan-angle", "pixel-size", "det-spacing", "source-origin",
         "geometry", "image-shape", "no-sinogram"],
)
def test_bad_ct_files(tmp_path, capsys, kwargs, needle):
    p = tmp_path / "ct.h5"
    _ct(p, **kwargs)
    out = tmp_path / "rec.h5"
    _refused(tmp_path, capsys, ["ct", p, "--out", out], needle, out)


def test_ct_huge_unwritten_sinogram(tmp_path, capsys):
    p = tmp_path / "ct.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("sinogram", shape=(4096, 4096, 4096), dtype=np.float32,
                         chunks=(1, 64, 64))
        f["angles"] = np.linspace(0, np.pi, 4096, endpoint=False)
        f.attrs["geometry"] = "parallel"
        f.attrs["image_shape"] = np.array([8, 8])
    out = tmp_path / "rec.h5"
    _refused(tmp_path, capsys, ["ct", p, "--out", out], "holds no data", out)


def test_ct_unknown_prior_and_zero_nfe(tmp_path, capsys):
    p = tmp_path / "ct.h5"
    _ct(p)
    out = tmp_path / "rec.h5"
    _refused(tmp_path, capsys, ["ct", p, "--out", out, "--method", "dds", "--prior", "nope"],
             "unknown prior 'nope'; available: ct-ellipses, mri-brain", out)
    _refused(tmp_path, capsys, ["ct", p, "--out", out, "--method", "dds", "--nfe", "0"],
             "nfe must be >= 1", out)


# -- metrics -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rec", "needle"),
    [
        (None, "none of the datasets reconstruction found"),
        (np.ones((3, 8, 8), np.float32), "has 3 slices but"),
        (np.full((2, 8, 8), np.nan, np.float32), "'reconstruction' contains 128 NaN"),
        (np.ones((2, 8, 8), np.complex64), "must be a real, non-empty (slices, H, W) array"),
    ],
    ids=["missing", "slices", "nan", "complex"],
)
def test_bad_metrics_inputs(tmp_path, capsys, rec, needle):
    out, ref = tmp_path / "out.h5", tmp_path / "ref.h5"
    with h5py.File(ref, "w") as f:
        f["reconstruction_rss"] = np.ones((2, 8, 8), np.float32)
    with h5py.File(out, "w") as f:
        if rec is not None:
            f["reconstruction"] = rec
    _refused(tmp_path, capsys, ["metrics", out, ref], needle)


# -- sample, train, weights ----------------------------------------------------------------------


def test_sample_bad_options(tmp_path, capsys):
    out = tmp_path / "samples"
    _refused(tmp_path, capsys, ["sample", "--prior", "nope", "--out", out], "unknown prior")
    _refused(tmp_path, capsys, ["sample", "--prior", "ct-ellipses", "--nfe", "0", "--out", out],
             "--nfe must be >= 1")
    _refused(tmp_path, capsys, ["sample", "--prior", "ct-ellipses", "--n", "0", "--out", out],
             "--n must be >= 1")


def _weights(tmp_path, truncate=False, channels=None):
    from models.registry import WEIGHTS_DIR

    d = tmp_path / "weights" / "ct-ellipses"
    d.mkdir(parents=True)
    raw = (WEIGHTS_DIR / "ct-ellipses" / "params.msgpack").read_bytes()
    (d / "params.msgpack").write_bytes(raw[: len(raw) // 3] if truncate else raw)
    cfg = json.loads((WEIGHTS_DIR / "ct-ellipses" / "config.json").read_text())
    if channels is not None:
        cfg["model"]["base_channels"] = channels
    (d / "config.json").write_text(json.dumps(cfg))
    return d.parent


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"truncate": True}, "cannot read the weights (truncated"),
     ({"channels": 16}, "has different array shapes")],
    ids=["truncated", "wrong-architecture"],
)
def test_bad_weights_in_recon_weights_dir(tmp_path, capsys, monkeypatch, kwargs, needle):
    monkeypatch.setenv("RECON_WEIGHTS_DIR", str(_weights(tmp_path, **kwargs)))
    out = tmp_path / "samples"
    line = _refused(tmp_path, capsys, ["sample", "--prior", "ct-ellipses", "--n", "1", "--out",
                                       out], needle)
    assert "ct-ellipses" in line
    p = tmp_path / "ct.h5"
    _ct(p)
    rec = tmp_path / "rec.h5"
    _refused(tmp_path, capsys, ["ct", p, "--out", rec, "--method", "dds"], needle, rec)
    shutil.rmtree(tmp_path / "weights")


def test_train_bad_configs(tmp_path, capsys):
    _refused(tmp_path, capsys, ["train", "--config", tmp_path / "none.json"], "not found")
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    _refused(tmp_path, capsys, ["train", "--config", p], "is not valid JSON")
