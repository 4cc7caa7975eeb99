"""``recon mri`` and ``recon metrics`` end to end, and every bad-input case through the CLI."""

from __future__ import annotations

import h5py
import jax
import numpy as np
import pytest

from operators.mri import random_mask
from recon.cli import main
from recon.io import write_fastmri, write_ismrmrd
from recon.measurement_split import SCHEMES
from recon.metrics import psnr
from recon.simulate import phantom_kspace

N = 64


@pytest.fixture(scope="module")
def sim():
    ks, tg = [], []
    for s in range(2):
        d = phantom_kspace((N, N), num_coils=4, noise=0.002, key=jax.random.PRNGKey(s))
        ks.append(d["kspace"])
        tg.append(d["target"])
    mask = random_mask(0, N, 0.2, 3)
    return np.stack(ks), mask, np.stack(tg)


@pytest.fixture(scope="module")
def fastmri_file(tmp_path_factory, sim):
    ks, mask, tg = sim
    path = tmp_path_factory.mktemp("in") / "vol.h5"
    write_fastmri(path, ks * mask, mask, reference=tg)
    return path


def _leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("method", ["zero-filled", "cg-sense", "l1-wavelet", "tv"])
def test_methods_write_fastmri_scaled_output(tmp_path, fastmri_file, sim, method, capsys):
    out = tmp_path / "out.h5"
    rc = main(["-q", "mri", str(fastmri_file), "--out", str(out), "--method", method,
               "--iters", "15"])
    assert rc == 0
    with h5py.File(out) as f:
        rec = f["reconstruction"][()]
        assert rec.dtype == np.float32 and rec.shape == (2, N, N)
        assert f.attrs["method"] == method
        assert f.attrs["format"] == "fastmri"
    tg = sim[2]
    # fastMRI intensity scale: same magnitude scale as the RSS reference (no arbitrary factor)
    assert 0.8 < rec.max() / tg.max() < 1.25
    zf = main(["-q", "metrics", str(out), str(fastmri_file)])
    assert zf == 0
    assert "PSNR" in capsys.readouterr().out
    floor = 20.0 if method == "zero-filled" else 24.0
    assert psnr(tg, rec) > floor
    assert not _leftovers(tmp_path)


def test_iterative_beats_zero_filled_and_crop_and_compression(tmp_path, fastmri_file, sim):
    tg = sim[2]
    zf, l1 = tmp_path / "zf.h5", tmp_path / "l1.h5"
    assert main(["-q", "mri", str(fastmri_file), "--out", str(zf), "--method", "zero-filled"]) == 0
    assert main(["-q", "mri", str(fastmri_file), "--out", str(l1), "--coils", "3",
                 "--crop", "48x40"]) == 0
    with h5py.File(zf) as a, h5py.File(l1) as b:
        z = a["reconstruction"][()]
        x = b["reconstruction"][()]
        assert x.shape == (2, 48, 40) and b.attrs["coils"] == 3 and b.attrs["crop"] == "48x40"
    sl = (slice(None), slice(8, 56), slice(12, 52))
    assert psnr(tg[sl], x) > psnr(tg[sl], z[sl]) + 2.0


def test_ismrmrd_input_with_noise_and_separate_acs(tmp_path, sim):
    ks, mask, tg = sim
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal((4, 256)) + 1j * rng.standard_normal((4, 256))) * 0.002
    img_mask = mask.copy()
    acs = np.zeros(N, bool)
    acs[N // 2 - 8 : N // 2 + 8] = True
    img_mask[N // 2 - 8 : N // 2 + 8] = 0  # calibration-only lines (flag 20)
    img_mask[::4] = 1
    path = tmp_path / "raw.h5"
    write_ismrmrd(path, ks, img_mask, acs=acs, noise=noise, shuffle_seed=1)
    out = tmp_path / "out.h5"
    assert main(["-q", "mri", str(path), "--out", str(out), "--method", "cg-sense"]) == 0
    with h5py.File(out) as f:
        rec = f["reconstruction"][()]
        assert f.attrs["format"] == "ismrmrd" and bool(f.attrs["prewhitened"])
    assert rec.shape == (2, N, N) and psnr(tg, rec) > 20.0


def _run_bad(tmp_path, path, capsys, *extra):
    out = tmp_path / "bad_out.h5"
    rc = main(["-q", "mri", str(path), "--out", str(out), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and str(path) in err
    assert not out.exists() and not _leftovers(tmp_path)
    return err


def test_bad_not_hdf5(tmp_path, capsys):
    p = tmp_path / "x.h5"
    p.write_text("this is not HDF5")
    assert "not a readable HDF5" in _run_bad(tmp_path, p, capsys)


def test_bad_truncated(tmp_path, fastmri_file, capsys):
    data = fastmri_file.read_bytes()
    p = tmp_path / "trunc.h5"
    p.write_bytes(data[: len(data) // 2])
    err = _run_bad(tmp_path, p, capsys)
    assert "truncated" in err


def test_bad_missing_kspace(tmp_path, capsys):
    p = tmp_path / "nok.h5"
    with h5py.File(p, "w") as f:
        f["foo"] = np.zeros(3)
    assert "no 'kspace'" in _run_bad(tmp_path, p, capsys)


def test_bad_dtype_and_ndim(tmp_path, capsys):
    p = tmp_path / "real.h5"
    with h5py.File(p, "w") as f:
        f["kspace"] = np.ones((1, 2, 8, 8), np.float32)
    assert "must be complex" in _run_bad(tmp_path, p, capsys)
    q = tmp_path / "ndim.h5"
    with h5py.File(q, "w") as f:
        f["kspace"] = np.ones((8, 8), np.complex64)
    assert "2-D" in _run_bad(tmp_path, q, capsys)


def test_bad_all_zero_mask(tmp_path, sim, capsys):
    ks, mask, _ = sim
    p = tmp_path / "zmask.h5"
    write_fastmri(p, ks * mask, np.zeros_like(mask))
    assert "all zero" in _run_bad(tmp_path, p, capsys)


def test_bad_mask_contradicts_kspace(tmp_path, sim, capsys):
    ks, mask, _ = sim
    p = tmp_path / "contra.h5"
    write_fastmri(p, ks, mask)  # fully sampled data with an undersampling mask
    assert "contradicts" in _run_bad(tmp_path, p, capsys)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_bad_nan_inf(tmp_path, sim, capsys, value):
    ks, mask, _ = sim
    bad = (ks * mask).copy()
    bad[0, 0, 3, int(np.flatnonzero(mask)[0])] = value
    p = tmp_path / "nan.h5"
    write_fastmri(p, bad, mask)
    assert "NaN or Inf" in _run_bad(tmp_path, p, capsys)


def test_bad_arguments(tmp_path, fastmri_file, capsys):
    _run_bad(tmp_path, fastmri_file, capsys, "--crop", "500x500")
    assert main(["-q", "mri", str(fastmri_file), "--out", str(tmp_path / "o.h5"),
                 "--coils", "9"]) == 2
    assert main(["-q", "mri", str(tmp_path / "missing.h5"), "--out",
                 str(tmp_path / "o.h5")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_dds_writes_posterior_mean_and_std(tmp_path, fastmri_file, sim):
    """``recon mri --method dds``: the mean of K = 2 (antithetic) samples and their std map."""
    out = tmp_path / "dds.h5"
    assert main(["-q", "mri", str(fastmri_file), "--out", str(out), "--method", "dds",
                 "--nfe", "3", "--samples", "2", "--seed", "1"]) == 0
    with h5py.File(out) as f:
        rec, std = f["reconstruction"][()], f["reconstruction_std"][()]
        assert f.attrs["method"] == "dds" and int(f.attrs["samples"]) == 2
        assert float(f.attrs["warm_start"]) == 0.25  # from L1-wavelet by default
    assert rec.shape == std.shape == (2, N, N) and rec.dtype == np.float32
    assert np.all(np.isfinite(rec)) and np.all(std >= 0) and std.max() > 0
    assert 0.5 < rec.max() / sim[2].max() < 2.0  # fastMRI intensity scale
    assert not _leftovers(tmp_path)


def test_dds_warm_start_option(tmp_path, fastmri_file, capsys):
    """``--warm-start 0`` samples from pure noise (a different image); a negative level is a
    clear error with exit 2 and no output."""
    outs = {}
    for level in ("0.25", "0"):
        outs[level] = tmp_path / f"ws{level}.h5"
        assert main(["-q", "mri", str(fastmri_file), "--out", str(outs[level]), "--method", "dds",
                     "--nfe", "3", "--samples", "2", "--warm-start", level,
                     "--validate", "off"]) == 0
    with h5py.File(outs["0.25"]) as a, h5py.File(outs["0"]) as b:
        assert float(b.attrs["warm_start"]) == 0.0
        assert np.max(np.abs(a["reconstruction"][()] - b["reconstruction"][()])) > 1e-3
    bad = tmp_path / "bad.h5"
    assert main(["-q", "mri", str(fastmri_file), "--out", str(bad), "--method", "dds",
                 "--warm-start", "-1"]) == 2
    assert "--warm-start" in capsys.readouterr().err and not bad.exists()


def test_dds_sampling_nan_exits_2_without_output(tmp_path, fastmri_file, capsys, monkeypatch):
    """A prior that returns NaN mid-sampling: one clear line, exit 2, no output file."""
    import models

    real = models.load_prior("mri-brain")

    class NaNPrior:
        config = real.config

        def __call__(self, x, sigma):
            return real(x, sigma) * np.nan

    monkeypatch.setattr(models, "load_prior", lambda name: NaNPrior())
    out = tmp_path / "nan_out.h5"
    assert main(["-q", "mri", str(fastmri_file), "--out", str(out), "--method", "dds",
                 "--nfe", "2", "--samples", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "NaN or Inf" in err and len(err.splitlines()) == 1
    assert not out.exists() and not _leftovers(tmp_path)


def test_lam_auto_writes_the_validation_record(tmp_path, fastmri_file):
    out = tmp_path / "auto.h5"
    assert main(["-q", "mri", str(fastmri_file), "--out", str(out), "--method", "cg-sense",
                 "--lam", "auto", "--iters", "10"]) == 0
    with h5py.File(out) as f:
        v = f["validation"]
        assert v["lam"].shape == (2,) and v["heldout_residual"].shape == (2, 8)
        decided = v["decided"][()]
        assert np.all(np.isin(v["validated"][()][decided], v["candidates"][()]))
        # the weight used is the validated one times the method's shrink factor
        shrink = SCHEMES["cg-sense"].shrink
        assert np.allclose(v["lam"][()][decided], v["validated"][()][decided] * shrink)
        assert f.attrs["lam"] == "auto"


@pytest.mark.parametrize("extra", [["--method", "cg-sense", "--lam", "auto", "--holdout", "0.7"],
                                   ["--method", "tv", "--lam", "auto", "--holdout", "0"],
                                   ["--method", "zero-filled", "--lam", "auto"]])
def test_lam_auto_bad_options_exit_2_without_output(tmp_path, fastmri_file, capsys, extra):
    out = tmp_path / "bad.h5"
    assert main(["-q", "mri", str(fastmri_file), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("--holdout" in err or "--lam auto" in err), err
    assert not out.exists()


@pytest.fixture
def gaussian_prior(monkeypatch):
    """The exact Gaussian prior in place of the network (fast)."""
    import models
    from recon.evaluation.run import gaussian_prior

    monkeypatch.setattr(models, "load_prior", lambda name: gaussian_prior("mri"))


@pytest.mark.parametrize("mode", ["on", "settings"])
def test_validated_dds_writes_the_record(tmp_path, fastmri_file, gaussian_prior, mode):
    """``--method dds`` validates by default: per slice the candidates' held-out residuals, the
    floor, the choice, the weight and the posterior agreement are in ``/validation``, and the
    image is the chosen blend of the classical image and the dds mean. ``--validate settings``
    also validates dds's warm-start level and consistency weight and runs the setting of
    smallest held-out residual per slice."""
    from recon import validated_diffusion as vd

    outs = {v: tmp_path / f"{v}.h5" for v in (mode, "off")}
    for v, out in outs.items():
        assert main(["-q", "mri", str(fastmri_file), "--out", str(out), "--method", "dds",
                     "--nfe", "3", "--validate", v]) == 0
    with h5py.File(outs[mode]) as f, h5py.File(outs["off"]) as g:
        assert f.attrs["validate"] == mode and g.attrs["validate"] == "off"
        assert "validation" not in g
        v = f["validation"]
        assert set(v) == set(vd.RECORD_FIELDS) and "about" in v.attrs
        assert v["heldout_residual"].shape == v["candidates"].shape == (2, len(vd.CANDIDATES))
        assert np.all(v["heldout_residual"][()] > 0) and np.all(v["noise_floor"][()] > 0)
        w = v["weight"][()]
        choice = [c.decode() for c in v["choice"][()]]
        assert all(c in vd.CANDIDATES for c in choice)
        assert list(w) == [vd.dds_weight(c) for c in choice]
        assert all(c == "l1-wavelet" for c, d in zip(choice, v["decided"][()], strict=True)
                   if not d)
        agree = v["posterior_agreement"][()]
        assert np.all(np.isfinite(agree)) and np.all(agree >= 0)
        assert np.array_equal(v["posterior_disagrees"][()], agree > vd.AGREEMENT_LIMIT)
        # the dds settings: each slice runs the one of smallest held-out residual
        settings = vd.SETTINGS_GRID if mode == "settings" else vd.SETTINGS
        np.testing.assert_array_equal(v["settings"][()], np.tile(settings, (2, 1, 1)))
        res = v["setting_residual"][()]
        assert res.shape == (2, len(settings)) and np.all(res > 0)
        if mode == "settings":  # the grid's validation runs differ
            assert np.all(np.ptp(res, axis=1) > 0)
        chosen = [settings[i] for i in np.argmin(res, axis=1)]
        warm = float(f.attrs["warm_start"])
        np.testing.assert_allclose(v["warm_start"][()], [lv * warm for lv, _ in chosen])
        np.testing.assert_allclose(v["consistency_weight"][()], [d for _, d in chosen])
        if np.all(w == 1) and all(c == settings[0] for c in chosen):
            # dds at the configured setting: the same image as without validation
            np.testing.assert_allclose(f["reconstruction"][()], g["reconstruction"][()],
                                       rtol=1e-5, atol=1e-6)


def test_validated_dds_undecided_returns_the_classical_image(tmp_path, fastmri_file,
                                                            gaussian_prior, monkeypatch):
    """A noise floor so high that no candidate stands out: undecided, and the output is the
    L1-wavelet image (DDS's warm start, default weight), recorded as such."""
    from recon import validated_diffusion as vd

    monkeypatch.setattr(vd, "noise_floor", lambda *a, **k: 1e3)
    out, l1 = tmp_path / "und.h5", tmp_path / "l1.h5"
    assert main(["-q", "mri", str(fastmri_file), "--out", str(out), "--method", "dds",
                 "--nfe", "2"]) == 0
    assert main(["-q", "mri", str(fastmri_file), "--out", str(l1),
                 "--method", "l1-wavelet"]) == 0
    with h5py.File(out) as f, h5py.File(l1) as g:
        v = f["validation"]
        assert not v["decided"][()].any() and np.all(v["weight"][()] == 0)
        assert [c.decode() for c in v["choice"][()]] == ["l1-wavelet", "l1-wavelet"]
        rec, ref = f["reconstruction"][()], g["reconstruction"][()]
        inside = rec > 0  # dds images are 0 outside the coil support (slice_methods)
        assert inside.mean() > 0.3
        np.testing.assert_allclose(rec[inside], ref[inside], rtol=1e-3, atol=1e-3 * ref.max())


@pytest.mark.parametrize(("extra", "needle"), [
    (["--method", "dds", "--validate", "maybe"], "--validate must be 'on', 'off' or"),
    (["--method", "cg-sense", "--validate", "on"], "--validate on checks dds"),
    (["--method", "cg-sense", "--validate", "settings"], "--validate on checks dds"),
    (["--method", "dds", "--holdout", "0.9"], "--holdout"),
])
def test_validate_bad_options_exit_2_without_output(tmp_path, fastmri_file, capsys, extra,
                                                    needle):
    out = tmp_path / "bad.h5"
    assert main(["-q", "mri", str(fastmri_file), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert not out.exists() and not _leftovers(tmp_path)


def test_validated_dds_too_few_samples_to_split(tmp_path, sim, capsys, gaussian_prior):
    """One acquired line outside the calibration region: nothing to hold out; one line, exit
    2, no output (as --lam auto), naming --validate off."""
    ks, _, tg = sim
    mask = np.zeros(N, np.float32)
    mask[N // 2 - 8 : N // 2 + 8] = 1
    mask[3] = 1
    src, out = tmp_path / "few.h5", tmp_path / "few_out.h5"
    write_fastmri(src, ks * mask, mask, reference=tg)
    assert main(["-q", "mri", str(src), "--out", str(out), "--method", "dds", "--nfe", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "too few" in err and "--validate off" in err, err
    assert not out.exists() and not _leftovers(tmp_path)
