"""``recon mri`` reads what it is given right or says why not: 2D masks and readout
undersampling detected and reconstructed, 3-D layouts, ISMRMRD reconSpace, encodings,
repetitions and averages, the output orientation, -q / -v, and a start-up that imports neither
NumPy nor JAX for ``--help`` (nor JAX for ``--method zero-filled``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import h5py
import jax
import numpy as np
import pytest

from recon.cli import main
from recon.io import write_fastmri
from recon.metrics import psnr
from recon.simulate import phantom_kspace
from tests import ismrmrd_files as mrd

N = 48
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def sim():
    d = phantom_kspace((N, N), num_coils=4, noise=0.002, key=jax.random.PRNGKey(3))
    return np.asarray(d["kspace"])[None], np.asarray(d["target"])[None]


def _poisson(seed=0):
    import sigpy.mri

    return (sigpy.mri.poisson((N, N), 3, calib=(16, 16), seed=seed) != 0).astype(np.float32)


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_2d_mask_is_detected_reported_and_reconstructed(tmp_path, sim, capsys):
    """A Poisson-disc mask (no ``mask`` dataset, or a misleading all-ones line mask): reported
    as 2D with its true acceleration, and CG-SENSE with the 2D mask beats zero filling; -v adds
    our timings and no third-party log line."""
    ks, tg = sim
    m2 = _poisson()
    for name, mask in (("nomask", None), ("lines", np.ones(N, np.float32))):
        src, out = tmp_path / f"{name}.h5", tmp_path / f"{name}_zf.h5"
        write_fastmri(src, ks * m2, mask)
        rc, stdout, err = _run(capsys, "mri", str(src), "--out", str(out),
                               "--method", "zero-filled")
        assert rc == 0 and "wrote" in stdout
        assert f"sampling 2D, acceleration {m2.size / m2.sum():.2f}" in err
        with h5py.File(out) as f:
            assert f.attrs["sampling"] == "2D"
            assert f.attrs["acceleration"] == pytest.approx(m2.size / m2.sum())
            zf = f["reconstruction"][()]
    cg = tmp_path / "cg.h5"
    rc, _, err = _run(capsys, "-v", "mri", str(tmp_path / "nomask.h5"), "--out", str(cg),
                      "--method", "cg-sense", "--iters", "20")
    assert rc == 0
    lines = err.strip().splitlines()
    assert any("cg-sense reconstruction:" in ln and ln.endswith(" s") for ln in lines)
    assert all(ln.startswith(str(tmp_path)) for ln in lines), lines  # only our own lines
    with h5py.File(cg) as f:
        rec = f["reconstruction"][()]
    assert psnr(tg, rec) > psnr(tg, zf) + 6.0


def test_2d_mask_diffusion_path(tmp_path, sim, monkeypatch):
    """DDS with a 2D mask (noise estimate, ESPIRiT centre block, SENSE with the (H, W) mask),
    with the exact Gaussian prior standing in for the network to keep the test fast."""
    import models
    from recon.evaluation.run import gaussian_prior

    monkeypatch.setattr(models, "load_prior", lambda name: gaussian_prior("mri"))
    from recon.zero_filled import zero_filled_rss

    ks, tg = sim
    src, out = tmp_path / "p.h5", tmp_path / "dds.h5"
    write_fastmri(src, ks * _poisson(1), None)
    zf = zero_filled_rss(ks * _poisson(1))
    assert main(["-q", "mri", str(src), "--out", str(out), "--method", "dds", "--nfe", "2",
                 "--samples", "1", "--warm-start", "0"]) == 0
    with h5py.File(out) as f:
        rec = f["reconstruction"][()]
        assert f.attrs["sampling"] == "2D"
    assert rec.shape == (1, N, N) and psnr(tg, rec) > psnr(tg, zf) + 3.0


def test_readout_undersampling_is_named_and_reconstructed(tmp_path, sim, capsys):
    ks, _ = sim
    rows = np.zeros(N, np.float32)
    rows[::2] = 1
    rows[N // 2 - 8 : N // 2 + 8] = 1
    src, out = tmp_path / "ro.h5", tmp_path / "ro_out.h5"
    write_fastmri(src, ks * rows[:, None], None)
    rc, _, err = _run(capsys, "mri", str(src), "--out", str(out), "--method", "zero-filled")
    assert rc == 0 and "sampling 1D readout, acceleration" in err
    with h5py.File(out) as f:
        assert f.attrs["sampling"] == "1D readout"
        assert f.attrs["acceleration"] == pytest.approx(N / rows.sum())


def test_3d_kspace_needs_single_coil(tmp_path, sim, capsys):
    ks, _ = sim
    src, out = tmp_path / "c.h5", tmp_path / "c_out.h5"
    write_fastmri(src, ks[0], None)  # (coils, H, W): ambiguous
    rc, _, err = _run(capsys, "-q", "mri", str(src), "--out", str(out))
    assert rc == 2 and "--single-coil" in err and not out.exists()
    assert main(["-q", "mri", str(src), "--out", str(out), "--method", "zero-filled",
                 "--single-coil"]) == 0
    with h5py.File(out) as f:
        assert f["reconstruction"].shape == (4, N, N) and int(f.attrs["coils"]) == 1


def test_quiet_prints_nothing_and_default_prints_status(tmp_path, sim, capsys):
    ks, _ = sim
    src = tmp_path / "f.h5"
    m = np.zeros(N, np.float32)
    m[::2] = 1
    write_fastmri(src, ks * m, m)
    rc, out, err = _run(capsys, "-q", "mri", str(src), "--out", str(tmp_path / "q.h5"),
                        "--method", "zero-filled")
    assert rc == 0 and out == "" and err == ""
    rc, out, err = _run(capsys, "mri", str(src), "--out", str(tmp_path / "q2.h5"),
                        "--method", "zero-filled", "-q")  # after the command name too
    assert rc == 0 and out == "" and err == ""
    rc, out, err = _run(capsys, "mri", str(src), "--out", str(tmp_path / "n.h5"),
                        "--method", "zero-filled")
    assert out.startswith("recon mri: wrote") and "1D phase encode, acceleration 2.00" in err


# -- ISMRMRD -------------------------------------------------------------------------------------


def _coil_images(k):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"),
                           axes=(-2, -1))


def _rss(k):
    return np.sqrt(np.sum(np.abs(_coil_images(k)) ** 2, axis=0))


def test_recon_space_y_crops_and_pads_the_phase_encode_axis(tmp_path, capsys):
    k = mrd.random_kspace(2, 32, 40)
    crop = tmp_path / "crop.h5"
    mrd.write(crop, mrd.header(mrd.encoding_xml(32, 40, recon_pe=32)), mrd.cartesian(k))
    out = tmp_path / "crop_out.h5"
    rc, _, err = _run(capsys, "mri", str(crop), "--out", str(out), "--method", "zero-filled")
    assert rc == 0 and "cropped from encodedSpace y 40 to reconSpace y 32" in err
    with h5py.File(out) as f:
        rec = f["reconstruction"][()]
    np.testing.assert_allclose(rec[0], _rss(k)[:, 4:36], rtol=1e-4, atol=1e-6)
    k2 = mrd.random_kspace(2, 32, 24, seed=1)
    pad = tmp_path / "pad.h5"
    mrd.write(pad, mrd.header(mrd.encoding_xml(32, 24, recon_pe=40)), mrd.cartesian(k2))
    assert main(["-q", "mri", str(pad), "--out", str(out), "--method", "zero-filled"]) == 0
    with h5py.File(out) as f:
        rec = f["reconstruction"][()]
        assert f.attrs["acceleration"] == pytest.approx(1.0)  # over the encoded lines
    padded = np.zeros((2, 32, 40), np.complex64)
    padded[:, :, 8:32] = k2  # the scanner's zero-filled interpolation
    np.testing.assert_allclose(rec[0], _rss(padded), rtol=1e-4, atol=1e-6)


def test_orientation_ismrmrd_is_the_transpose(tmp_path, capsys):
    k = mrd.random_kspace(2, 32, 24)
    src = tmp_path / "o.h5"
    mrd.write(src, mrd.header(mrd.encoding_xml(32, 24)), mrd.cartesian(k))
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert main(["-q", "mri", str(src), "--out", str(a), "--method", "zero-filled"]) == 0
    assert main(["-q", "mri", str(src), "--out", str(b), "--method", "zero-filled",
                 "--orientation", "ismrmrd", "--crop", "20x30"]) == 0
    with h5py.File(a) as fa, h5py.File(b) as fb:
        ra, rb = fa["reconstruction"][()], fb["reconstruction"][()]
        assert fb.attrs["orientation"] == "ismrmrd" and ra.shape == (1, 32, 24)
    assert rb.shape == (1, 20, 30)
    np.testing.assert_array_equal(rb, ra.transpose(0, 2, 1)[:, 2:22, 1:31])


@pytest.mark.skipif(shutil.which("ismrmrd_recon_cartesian_2d") is None,
                    reason="ISMRMRD's tools are not installed (Debian package ismrmrd-tools)")
def test_orientation_ismrmrd_matches_ismrmrds_own_reconstruction(tmp_path):
    src = tmp_path / "sl.h5"
    subprocess.run(["ismrmrd_generate_cartesian_shepp_logan", "-m", "32", "-c", "2", "-o",
                    str(src)], check=True, capture_output=True)
    ours = tmp_path / "ours.h5"
    assert main(["-q", "mri", str(src), "--out", str(ours), "--method", "zero-filled",
                 "--orientation", "ismrmrd"]) == 0  # reads before ISMRMRD's tool adds images
    subprocess.run(["ismrmrd_recon_cartesian_2d", str(src)], check=True, capture_output=True)
    with h5py.File(src) as f, h5py.File(ours) as g:
        theirs = f["dataset/cpp/data"][0, 0, 0]
        mine = g["reconstruction"][0]
    assert theirs.shape == mine.shape
    assert np.corrcoef(theirs.ravel(), mine.ravel())[0, 1] > 0.9999


def test_encodings_are_refused_or_selected(tmp_path, capsys):
    k0, k1 = mrd.random_kspace(2, 32, 24), mrd.random_kspace(2, 16, 20, seed=2)
    src = tmp_path / "two.h5"
    xml = mrd.header(mrd.encoding_xml(32, 24), mrd.encoding_xml(16, 20))
    mrd.write(src, xml, mrd.cartesian(k0) + mrd.cartesian(k1, encoding=1))
    out = tmp_path / "e.h5"
    rc, _, err = _run(capsys, "-q", "mri", str(src), "--out", str(out))
    assert rc == 2 and "2 <encoding> elements" in err and "--encoding" in err
    assert main(["-q", "mri", str(src), "--out", str(out), "--method", "zero-filled",
                 "--encoding", "1"]) == 0
    with h5py.File(out) as f:
        np.testing.assert_allclose(f["reconstruction"][0], _rss(k1), rtol=1e-4, atol=1e-6)


def test_repetitions_mean_or_separate_and_averages_reported(tmp_path, capsys):
    ka, kb = mrd.random_kspace(2, 16, 16), mrd.random_kspace(2, 16, 16, seed=5)
    src = tmp_path / "rep.h5"
    mrd.write(src, mrd.header(mrd.encoding_xml(16, 16)),
              mrd.cartesian(ka, repetition=0) + mrd.cartesian(kb, repetition=1))
    mean, sep = tmp_path / "mean.h5", tmp_path / "sep.h5"
    rc, _, err = _run(capsys, "mri", str(src), "--out", str(mean), "--method", "zero-filled")
    assert rc == 0 and "averaged 2 repetitions" in err
    assert main(["-q", "mri", str(src), "--out", str(sep), "--method", "zero-filled",
                 "--repetitions", "separate"]) == 0
    with h5py.File(mean) as f, h5py.File(sep) as g:
        np.testing.assert_allclose(f["reconstruction"][0], _rss((ka + kb) / 2), rtol=1e-4,
                                   atol=1e-6)
        assert "averaged 2 repetitions" in f.attrs["combined"]
        rs = g["reconstruction"][()]
    assert rs.shape == (2, 16, 16)
    np.testing.assert_allclose(rs[1], _rss(kb), rtol=1e-4, atol=1e-6)
    avg = tmp_path / "avg.h5"
    mrd.write(avg, mrd.header(mrd.encoding_xml(16, 16)),
              mrd.cartesian(ka, average=0) + mrd.cartesian(kb, average=1))
    rc, _, err = _run(capsys, "mri", str(avg), "--out", str(mean), "--method", "zero-filled")
    assert rc == 0 and "averaged 2 averages" in err


# -- start-up --------------------------------------------------------------------------------------


def _fresh_python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True, env=env, cwd=REPO).stdout


def test_help_imports_neither_numpy_nor_jax():
    out = _fresh_python(
        "import sys, contextlib, io\n"
        "from recon.cli import main\n"
        "for argv in (['--help'], ['mri', '--help'], ['ct', '--help'], ['bench', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "print(sorted(m for m in ('numpy', 'jax', 'h5py', 'scipy') if m in sys.modules))\n")
    assert out.strip() == "[]"


def test_zero_filled_never_imports_jax(tmp_path, sim):
    ks, _ = sim
    src = tmp_path / "z.h5"
    write_fastmri(src, ks, None)
    out = _fresh_python(
        "import sys\nfrom recon.cli import main\n"
        f"rc = main(['-q', 'mri', {str(src)!r}, '--out', {str(tmp_path / 'o.h5')!r}, "
        "'--method', 'zero-filled'])\n"
        "print(rc, 'jax' in sys.modules)\n")
    assert out.split() == ["0", "False"]


def test_compile_cache_in_the_chosen_folder_and_off_with_no_cache(tmp_path):
    folder = tmp_path / "cache"
    _fresh_python(
        "import os\n"
        f"os.environ['RECON_CACHE_DIR'] = {str(folder)!r}\n"
        "from recon import compile_cache\ncompile_cache.configure()\n"
        "import jax, jax.numpy as jnp\n"
        "jax.jit(lambda x: jnp.sin(x) * 2)(jnp.ones(3)).block_until_ready()\n")
    assert any((folder / "jax").iterdir())
    from recon import compile_cache

    before = jax.config.jax_enable_compilation_cache
    try:
        compile_cache.configure(enabled=False)
        assert jax.config.jax_enable_compilation_cache is False
    finally:
        jax.config.update("jax_enable_compilation_cache", before)
