"""Sampling-pattern detection, the ESPIRiT centre block, the NumPy zero-filled baseline and the
output-grid helpers (crop/pad, orientation)."""

from __future__ import annotations

import numpy as np
import pytest

from recon.errors import UserError
from recon.image_grid import fit_length, orient
from recon.sampling import (
    FULL,
    PHASE_ENCODE,
    READOUT,
    TWO_D,
    calibration_region,
    detect,
    sampled_positions,
)


def _lines(w=40, acs=10, step=3):
    m = np.zeros(w, bool)
    m[::step] = True
    m[w // 2 - acs // 2 : w // 2 - acs // 2 + acs] = True
    return m


def test_detect_names_each_pattern_and_its_acceleration():
    h = 32
    lines = _lines()
    one_d = detect(np.broadcast_to(lines, (h, 40)))
    assert one_d.kind == PHASE_ENCODE and one_d.mask.shape == (40,)
    assert one_d.acceleration == pytest.approx(40 / lines.sum())
    assert one_d.centre == (h, 10)
    readout = detect(np.broadcast_to(lines[:, None], (40, h)))
    assert readout.kind == READOUT and readout.mask.shape == (40, h)
    assert readout.centre == (10, h)
    assert detect(np.ones((h, 40), bool)).kind == FULL
    rng = np.random.default_rng(0)
    random = rng.random((h, 40)) < 0.3
    random[h // 2 - 6 : h // 2 + 6, 20 - 5 : 20 + 5] = True
    two_d = detect(random)
    assert two_d.kind == TWO_D and two_d.mask.shape == (h, 40)
    assert two_d.acceleration == pytest.approx(random.size / random.sum())
    ch, cw = two_d.centre
    assert ch >= 12 and cw >= 10 and ch * cw >= 120  # at least the block put there
    assert "2D, acceleration" in two_d.describe()


def test_centre_block_is_fully_sampled_and_centred_as_espirit_crops():
    rng = np.random.default_rng(1)
    m = rng.random((33, 28)) < 0.5
    m[10:24, 9:20] = True
    ch, cw = detect(m).centre
    r0, c0 = 33 // 2 - ch // 2, 28 // 2 - cw // 2
    assert m[r0 : r0 + ch, c0 : c0 + cw].all()
    # no centred block one row or one column larger is fully sampled with the same other side
    for dh, dw in ((1, 0), (0, 1)):
        h2, w2 = ch + dh, cw + dw
        r, c = 33 // 2 - h2 // 2, 28 // 2 - w2 // 2
        assert not m[r : r + h2, c : c + w2].all()


def test_calibration_region_for_line_and_2d_masks():
    from recon.coils.espirit import default_calib_shape, default_kernel_width

    lines = _lines(64, 16)
    region, kernel = calibration_region(lines, (48, 64), 4)
    assert kernel == default_kernel_width(16)
    assert region == default_calib_shape((48, 64), 16, 4, kernel)
    m = np.zeros((48, 64), bool)
    m[24 - 8 : 24 + 8, 32 - 7 : 32 + 7] = True
    region, kernel = calibration_region(m, (48, 64), 4)
    assert region == (16, 14) and kernel == 6
    small = np.zeros((48, 64), bool)
    small[23:26, 31:34] = True
    with pytest.raises(ValueError, match="fully sampled centre of at least"):
        calibration_region(small, (48, 64), 4)


def test_sampled_positions_refuses_slices_sampled_differently():
    k = np.ones((3, 2, 8, 8), np.complex64)
    k[:, :, :, ::2] = 0
    k[2] = 0  # an empty slice (no signal) is ignored
    assert sampled_positions(k, "f.h5").sum() == 32
    k[1, :, :, 1] = 0
    with pytest.raises(UserError, match="slices are sampled differently"):
        sampled_positions(k, "f.h5")
    with pytest.raises(UserError, match="all zero"):
        sampled_positions(np.zeros((1, 1, 4, 4), np.complex64), "f.h5")


def test_numpy_zero_filled_matches_the_jax_centred_fft():
    import jax.numpy as jnp

    from operators.fft import ifftc
    from recon.zero_filled import zero_filled_rss

    rng = np.random.default_rng(0)
    for shape in ((2, 3, 16, 12), (1, 2, 15, 9)):  # even and odd sizes
        k = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
        want = np.sqrt(np.sum(np.abs(np.asarray(ifftc(jnp.asarray(k), axes=(-2, -1)))) ** 2,
                              axis=1))
        np.testing.assert_allclose(zero_filled_rss(k), want, rtol=1e-5, atol=1e-6)


def test_fit_length_crop_and_pad_keep_the_centre_and_invert():
    x = np.arange(7.0)
    assert fit_length(x, 7) is not None and fit_length(x, 3).tolist() == [2.0, 3.0, 4.0]
    padded = fit_length(x, 10)
    assert padded.shape == (10,) and padded[10 // 2] == x[7 // 2]
    np.testing.assert_array_equal(fit_length(padded, 7), x)
    a = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(orient(a, "ismrmrd"), a.transpose(0, 2, 1))
    assert orient(a, "fastmri") is a
