"""``recon ct`` through the command line: FBP output, and exit 2 with one line on bad input."""

import h5py
import numpy as np
import pytest

from recon.cli import main
from recon.io.ct_format import CTData, write_ct

N, ANGLES, DET = 32, 24, 47


def make_file(path, **overrides):
    from operators.ct import parallel_beam

    yy, xx = np.mgrid[:N, :N] - (N - 1) / 2
    truth = ((xx / 10) ** 2 + (yy / 13) ** 2 <= 1).astype(np.float32)
    truth += 0.5 * (((xx - 3) / 4) ** 2 + (yy / 5) ** 2 <= 1)
    angles = np.linspace(0, np.pi, ANGLES, endpoint=False)
    A = parallel_beam((N, N), angles, DET)
    sino = np.stack([np.asarray(A(truth)), np.asarray(A(truth[:, ::-1]))])
    fields = dict(sinogram=sino, angles=angles, geometry="parallel", image_shape=(N, N),
                  ground_truth=np.stack([truth, truth[:, ::-1]]))
    fields.update(overrides)
    write_ct(path, CTData(**fields))
    return fields["ground_truth"]


def test_fbp_reconstructs_every_slice(tmp_path):
    src, out = tmp_path / "in.h5", tmp_path / "out.h5"
    truth = make_file(src)
    assert main(["ct", str(src), "--out", str(out), "--method", "fbp"]) == 0
    with h5py.File(out) as f:
        rec = f["reconstruction"][()]
        assert f.attrs["method"] == "fbp"
    assert rec.shape == (2, N, N) and rec.dtype == np.float32
    for r, t in zip(rec, truth, strict=True):
        assert np.linalg.norm(r - t) / np.linalg.norm(t) < 0.35
    assert np.linalg.norm(rec[0] - truth[1]) > np.linalg.norm(rec[0] - truth[0])


def test_quiet_prints_nothing(tmp_path, capsys):
    src = tmp_path / "in.h5"
    make_file(src)
    capsys.readouterr()
    assert main(["ct", str(src), "--out", str(tmp_path / "q.h5"), "--method", "fbp", "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["ct", str(src), "--out", str(tmp_path / "n.h5"), "--method", "fbp"]) == 0
    assert capsys.readouterr().out.startswith("recon ct: fbp on 2 slice(s)")


@pytest.mark.parametrize("method", ["tv", "sirt", "cgls"])
def test_iterative_methods_reconstruct_every_slice(tmp_path, method):
    src, out = tmp_path / "in.h5", tmp_path / "out.h5"
    truth = make_file(src)
    assert main(["ct", str(src), "--out", str(out), "--method", method]) == 0
    with h5py.File(out) as f:
        rec = f["reconstruction"][()]
        assert f.attrs["method"] == method
    assert rec.shape == (2, N, N) and rec.dtype == np.float32
    for r, t in zip(rec, truth, strict=True):
        assert np.linalg.norm(r - t) / np.linalg.norm(t) < 0.3
    assert np.linalg.norm(rec[0] - truth[1]) > np.linalg.norm(rec[0] - truth[0])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "dds", "--prior", "no-such-prior"], "unknown prior"),
        (["--method", "tv", "--lam", "-1"], "--lam must be > 0"),
        (["--method", "sirt", "--iters", "0"], "--iters must be >= 1"),
        (["--method", "dds", "--nfe", "0"], "nfe must be >= 1"),
        (["--method", "dds", "--prior", "mri-brain"], "cannot serve real (CT) images"),
        (["--method", "sirt", "--lam", "auto"], "--lam auto chooses the weight of tv"),
        (["--method", "tv", "--lam", "auto", "--holdout", "0"], "--holdout must be in (0, 0.5]"),
        (["--method", "tv", "--lam", "auto", "--holdout", "0.6"],
         "--holdout must be in (0, 0.5]"),
        (["--method", "tv", "--lam", "auto", "--holdout", "nan"],
         "--holdout must be in (0, 0.5]"),
        (["--method", "tv", "--holdout", "0.2"], "give one of them"),
        # 24 views of 47 bins: 1 % of them is one view, fewer than the 64 bins a score needs
        (["--method", "tv", "--lam", "auto", "--holdout", "0.01"], "too few views"),
        (["--method", "dds", "--noise-std", "-1"], "--noise-std must be a finite number"),
        (["--method", "dds", "--validate", "maybe"], "--validate must be 'on' or 'off'"),
        (["--method", "tv", "--validate", "on"], "--validate on checks dds against tv"),
        (["--method", "dds", "--validate", "off", "--holdout", "0.2"], "give one of them"),
        (["--method", "dds", "--holdout", "0.01"], "too few views"),
    ],
)
def test_bad_options_exit_2(tmp_path, capsys, extra, message):
    src, out = tmp_path / "in.h5", tmp_path / "out.h5"
    make_file(src)
    assert main(["ct", str(src), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_bad_files_exit_2(tmp_path, capsys):
    out = tmp_path / "out.h5"
    assert main(["ct", str(tmp_path / "missing.h5"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "nan.h5"
    make_file(bad)
    with h5py.File(bad, "r+") as f:
        f["sinogram"][0, 0, 0] = np.nan
    assert main(["ct", str(bad), "--out", str(out)]) == 2
    assert "NaN or Inf" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out.h5*"))


def test_dds_writes_posterior_mean_and_std(tmp_path):
    src, out = tmp_path / "in.h5", tmp_path / "out.h5"
    truth = make_file(src)
    assert main(["-q", "ct", str(src), "--out", str(out), "--method", "dds", "--nfe", "3",
                 "--samples", "2", "--noise-std", "0.05", "--validate", "off"]) == 0
    with h5py.File(out) as f:
        rec, std = f["reconstruction"][()], f["reconstruction_std"][()]
    assert rec.shape == std.shape == (2, N, N)
    assert np.all(np.isfinite(rec)) and np.all(std >= 0) and std.max() > 0
    for r, t in zip(rec, truth, strict=True):  # 3 NFE: a rough image, but of this slice
        assert np.linalg.norm(r - t) / np.linalg.norm(t) < 0.6


def test_dds_estimates_the_noise_level_when_not_given(tmp_path, capsys):
    src, out = tmp_path / "in.h5", tmp_path / "out.h5"
    make_file(src)
    with h5py.File(src, "r+") as f:  # 2 % noise of the mean |y|; the detector has air at both ends
        s = f["sinogram"][()]
        sigma = 0.02 * np.mean(np.abs(s))
        f["sinogram"][...] = s + sigma * np.random.default_rng(0).standard_normal(s.shape)
    assert main(["ct", str(src), "--out", str(out), "--method", "dds", "--nfe", "2",
                 "--samples", "1"]) == 0
    err = capsys.readouterr().err
    assert "noise std per bin estimated" in err and "--noise-std overrides" in err
    with h5py.File(out) as f:
        est = f["noise_std_estimate"][()]
        assert "noise_std" not in f.attrs and f["noise_std_estimate"].attrs["estimator"]
    assert est.shape == (2,) and np.all(np.abs(est / sigma - 1) < 0.25)
    out2 = tmp_path / "given.h5"  # an explicit --noise-std wins: nothing estimated, nothing stored
    assert main(["ct", str(src), "--out", str(out2), "--method", "dds", "--nfe", "2",
                 "--samples", "1", "--noise-std", "0.05"]) == 0
    assert "estimated" not in capsys.readouterr().err
    with h5py.File(out2) as f:
        assert "noise_std_estimate" not in f and f.attrs["noise_std"] == 0.05


def test_tv_lam_auto_writes_the_validation_record(tmp_path, capsys):
    src, out = tmp_path / "in.h5", tmp_path / "out.h5"
    truth = make_file(src)
    with h5py.File(src, "r+") as f:
        s = f["sinogram"][()]
        sigma = 0.03 * np.mean(np.abs(s))
        f["sinogram"][...] = s + sigma * np.random.default_rng(1).standard_normal(s.shape)
    assert main(["ct", str(src), "--out", str(out), "--method", "tv", "--lam", "auto",
                 "--iters", "40"]) == 0
    assert "--lam auto chose" in capsys.readouterr().err
    with h5py.File(out) as f:
        rec = f["reconstruction"][()]
        g = f["validation"]
        lam, cands, res = g["lam"][()], g["candidates"][()], g["heldout_residual"][()]
        floor, decided, noise = g["noise_floor"][()], g["decided"][()], g["noise_std"][()]
        assert f.attrs["lam"] == "auto" and g.attrs["holdout"] == 0.2
    assert lam.shape == floor.shape == decided.shape == noise.shape == (2,)
    assert cands.shape == res.shape == (2, 7)
    assert np.all(res > 0) and np.all(floor > 0) and np.all(np.abs(noise / sigma - 1) < 0.25)
    for i in range(2):
        if decided[i]:  # the smallest held-out residual's weight
            assert lam[i] == cands[i, np.argmin(res[i])]
    for r, t in zip(rec, truth, strict=True):
        assert np.linalg.norm(r - t) / np.linalg.norm(t) < 0.35


def test_validated_dds_writes_the_record(tmp_path):
    """dds validates by default: TV, the dds mean and their blends scored on held-out views;
    the chosen image is that blend of the full-data TV and dds images (--validate off)."""
    from recon.ct.validated_dds import CANDIDATES, WEIGHTS
    from recon.validated_diffusion import AGREEMENT_LIMIT

    src, out, off, tv = (tmp_path / n for n in ("in.h5", "v.h5", "off.h5", "tv.h5"))
    make_file(src)
    with h5py.File(src, "r+") as f:
        s = f["sinogram"][()]
        f["sinogram"][...] = s + 0.02 * np.mean(np.abs(s)) * np.random.default_rng(2) \
            .standard_normal(s.shape)
    common = ["--nfe", "3", "--samples", "2"]
    assert main(["-q", "ct", str(src), "--out", str(out), "--method", "dds", *common]) == 0
    assert main(["-q", "ct", str(src), "--out", str(off), "--method", "dds", "--validate", "off",
                 *common]) == 0
    assert main(["-q", "ct", str(src), "--out", str(tv), "--method", "tv"]) == 0
    with h5py.File(out) as f:
        rec = f["reconstruction"][()]
        g = f["validation"]
        assert [c.decode() for c in g["candidates"][()]] == list(CANDIDATES)
        assert g["heldout_residual"].shape == (2, len(CANDIDATES))
        assert np.all(np.isfinite(g["heldout_residual"][()]))
        assert np.all(g["noise_floor"][()] > 0) and f["noise_std_estimate"].shape == (2,)
        choice, weight = g["choice"][()], g["weight"][()]
        std = f["reconstruction_std"][()]
        agree = g["posterior_agreement"][()]
        # samples were drawn only where the choice has a dds part; elsewhere nan, not flagged
        assert np.array_equal(np.isfinite(agree), weight > 0) and np.all(agree[weight > 0] >= 0)
        assert np.array_equal(g["posterior_disagrees"][()],
                              np.nan_to_num(agree) > AGREEMENT_LIMIT)
    with h5py.File(off) as f:
        dds, std_off = f["reconstruction"][()], f["reconstruction_std"][()]
        assert "validation" not in f
    with h5py.File(tv) as f:
        classical = f["reconstruction"][()]
    for i in range(2):
        assert weight[i] == WEIGHTS[CANDIDATES.index(choice[i].decode())]
        np.testing.assert_allclose(rec[i], weight[i] * dds[i] + (1 - weight[i]) * classical[i],
                                   atol=1e-4 * np.abs(classical).max())
        np.testing.assert_allclose(std[i], weight[i] * std_off[i], atol=1e-6)


def test_validated_dds_undecided_returns_tv():
    from recon.ct.validated_dds import blend, decide_all, needs_dds

    rng = np.random.default_rng(0)
    sinos = rng.standard_normal((2, 24, 47))
    held = np.zeros((24, 47))
    held[:5] = 1
    energy = np.sum((sinos * held) ** 2, axis=(1, 2))
    sigma = np.ones(2)
    floor = 1.0 * 5 * 47 / energy  # the floor of noise_std 1 (one component per bin)
    out = {"residuals": np.stack([np.full(5, f) for f in floor])}  # all at the floor
    tv, dds = np.zeros((2, 8, 8), np.float32), np.ones((2, 8, 8), np.float32)
    rec = decide_all(out, sinos, held, sigma)
    assert not rec["decided"].any() and [c.decode() for c in rec["choice"]] == ["tv", "tv"]
    assert not needs_dds(rec).any()
    np.testing.assert_array_equal(blend(rec, tv, dds), 0.0)
    out["residuals"] = np.stack([f * np.array([3.0, 2.0, 1.2, 1.5, 2.5]) for f in floor])
    rec = decide_all(out, sinos, held, sigma)  # blend 0.5 clearly best
    assert rec["decided"].all() and [c.decode() for c in rec["choice"]] == ["blend 0.5"] * 2
    assert needs_dds(rec).all()
    np.testing.assert_allclose(blend(rec, tv, dds), 0.5)


def test_ct_posterior_agreement_definition():
    """Spread energy equal to the noise energy on the measured bins (one real component per
    bin) gives 1; slices without samples (nan) stay nan and unflagged."""
    from recon.ct.validated_dds import add_agreement

    rec = {"noise_std": np.array([0.5, 0.5, 0.5])}
    n_bins = 30 * 47
    add_agreement(rec, np.array([0.25 * n_bins, np.nan, 5 * 0.25 * n_bins]), n_bins)
    np.testing.assert_allclose(rec["posterior_agreement"][[0, 2]], [1.0, 5.0])
    assert np.isnan(rec["posterior_agreement"][1])
    assert list(rec["posterior_disagrees"]) == [False, False, True]
