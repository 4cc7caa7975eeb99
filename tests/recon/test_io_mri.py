"""fastMRI/ISMRMRD readers, ISMRMRD flags, pre-processing (whitening, compression, oversampling)."""

from __future__ import annotations

import h5py
import ismrmrd
import numpy as np
import pytest

from recon import preprocess
from recon.errors import UserError
from recon.io import read_fastmri, read_ismrmrd, write_fastmri, write_ismrmrd
from recon.io.ismrmrd import (
    ACQ_IS_NOISE_MEASUREMENT,
    ACQ_IS_PARALLEL_CALIBRATION,
    flag_set,
)
from recon.simulate import phantom_kspace

RNG = np.random.default_rng(0)
S, C, RO, PE = 2, 4, 32, 24


def _kspace():
    return (RNG.standard_normal((S, C, RO, PE))
            + 1j * RNG.standard_normal((S, C, RO, PE))).astype(np.complex64)


def test_flags_are_one_based_bit_positions():
    acq = ismrmrd.Acquisition.from_array(np.zeros((1, 4), np.complex64))
    acq.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
    assert acq.flags == 1 << 18
    assert flag_set(np.array([acq.flags]), ACQ_IS_NOISE_MEASUREMENT)[0]
    # bit 19 (0-based) is flag 20, the ACS flag, not a noise scan
    assert not flag_set(np.array([1 << 19]), ACQ_IS_NOISE_MEASUREMENT)[0]
    assert flag_set(np.array([1 << 19]), ACQ_IS_PARALLEL_CALIBRATION)[0]


def test_ismrmrd_roundtrip_noise_acs_and_ordering(tmp_path):
    ks = _kspace()
    mask = np.zeros(PE, np.float32)
    mask[::3] = 1
    acs = np.zeros(PE, bool)
    acs[PE // 2 - 4 : PE // 2 + 4] = True
    noise = (RNG.standard_normal((C, 100)) + 1j * RNG.standard_normal((C, 100))).astype(
        np.complex64)
    a, b = tmp_path / "ordered.h5", tmp_path / "shuffled.h5"
    write_ismrmrd(a, ks, mask, acs=acs, noise=noise)
    write_ismrmrd(b, ks, mask, acs=acs, noise=noise, shuffle_seed=3)
    da, db = read_ismrmrd(a), read_ismrmrd(b)
    for d in (da, db):
        np.testing.assert_array_equal(d.mask, mask)
        np.testing.assert_allclose(d.kspace, ks * mask[None, None, None, :])
        cal = np.maximum(mask, acs)
        np.testing.assert_allclose(d.calib, ks * cal[None, None, None, :])
        np.testing.assert_allclose(d.noise, noise)  # the noise scan was recognised as such
        assert d.encoded_matrix == (RO, PE) and d.oversampling == 1
    np.testing.assert_array_equal(da.kspace, db.kspace)


def test_ismrmrd_from_phantom_and_oversampling(tmp_path):
    d = phantom_kspace((32, 32), num_coils=2, noise=0.0)
    img = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(d["kspace"], axes=(-2, -1)),
                                       norm="ortho"), axes=(-2, -1))
    big = np.zeros((2, 64, 32), np.complex64)  # 2x readout oversampled field of view
    big[:, 16:48] = img
    kbig = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(big, axes=-2), axis=-2, norm="ortho"),
                           axes=-2)
    kbig = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(kbig, axes=-1), axis=-1, norm="ortho"),
                           axes=-1)
    path = tmp_path / "os.h5"
    write_ismrmrd(path, kbig[None].astype(np.complex64), np.ones(32), oversampling=2)
    raw = read_ismrmrd(path)
    assert raw.oversampling == 2 and raw.kspace.shape == (1, 2, 64, 32)
    k = preprocess.remove_readout_oversampling(raw.kspace, 2, axis=-2)
    np.testing.assert_allclose(k[0], d["kspace"], atol=1e-4 * np.abs(d["kspace"]).max())


def test_prewhitening_whitens_and_keeps_scale():
    mix = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.3, 2.0]])
    raw = RNG.standard_normal((3, 20000)) + 1j * RNG.standard_normal((3, 20000))
    noise = mix @ raw
    w = preprocess.whitening_matrix(noise)
    cov = preprocess.noise_covariance(w @ noise)
    scale = np.mean(np.real(np.diag(preprocess.noise_covariance(noise))))
    np.testing.assert_allclose(cov, scale * np.eye(3), atol=1e-10 * scale)
    data = np.ones((2, 3, 4), np.complex64)
    out = preprocess.prewhiten(data, noise, coil_axis=1)
    assert out.shape == data.shape and out.dtype == np.complex64


def test_coil_compression_keeps_energy_of_low_rank_data():
    basis = RNG.standard_normal((8, 2)) + 1j * RNG.standard_normal((8, 2))
    data = np.einsum("cr,rxy->cxy", basis, RNG.standard_normal((2, 16, 16)))
    out = preprocess.compress_coils(data, 2)
    assert out.shape == (2, 16, 16)
    np.testing.assert_allclose(np.linalg.norm(out), np.linalg.norm(data), rtol=1e-6)
    with pytest.raises(ValueError, match="virtual"):
        preprocess.compress_coils(data, 9)


def test_fastmri_reader_infers_mask_and_single_coil(tmp_path):
    ks = _kspace()[:, 0]  # single-coil (S, H, W)
    mask = np.zeros(PE, np.float32)
    mask[::2] = 1
    p = tmp_path / "sc.h5"
    with h5py.File(p, "w") as f:
        f["kspace"] = ks * mask
    # a 3-D kspace may be (coils, H, W) as well: read as single-coil slices only when told
    with pytest.raises(UserError, match=r"3-D.*--single-coil"):
        read_fastmri(p)
    d = read_fastmri(p, single_coil=True)
    assert d.kspace.shape == (S, 1, RO, PE)
    np.testing.assert_array_equal(d.mask, mask)
    with h5py.File(p, "a") as f:  # fastMRI's single-coil files carry reconstruction_esc
        f["reconstruction_esc"] = np.zeros((S, 8, 8), np.float32)
    assert read_fastmri(p).kspace.shape == (S, 1, RO, PE)
    q = tmp_path / "bad.h5"
    write_fastmri(q, np.zeros((1, 2, 4, 4), np.complex64))
    with pytest.raises(UserError, match="all zero"):
        read_fastmri(q)
