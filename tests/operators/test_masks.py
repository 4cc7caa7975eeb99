"""Sampling masks: fastMRI line-mask semantics, determinism, equispaced spacing, Poisson disc."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import operators.mri as om
from operators.mri.masks import center_lines


@pytest.mark.parametrize(("width", "fraction"), [(320, 0.08), (368, 0.04), (31, 0.1), (16, 0.125)])
def test_center_is_fully_sampled_at_fastmri_position(width, fraction):
    n_low = round(width * fraction)
    start = (width - n_low + 1) // 2
    np.testing.assert_array_equal(center_lines(width, fraction), np.arange(start, start + n_low))
    for make in (om.random_mask, om.equispaced_mask):
        mask = make(0, width, fraction, 4)
        assert mask.shape == (width,) and mask.dtype == np.float32
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert np.all(mask[start : start + n_low] == 1)


@pytest.mark.parametrize(("fraction", "acceleration"), [(0.08, 4), (0.04, 8)])
def test_random_mask_expected_acceleration(fraction, acceleration):
    width = 320
    counts = np.array([om.random_mask(s, width, fraction, acceleration).sum() for s in range(400)])
    # E[count] = W / R exactly; the standard error of the mean over 400 masks is < 0.4 lines.
    assert abs(counts.mean() - width / acceleration) < 2.0
    n_low = round(width * fraction)
    prob = (width / acceleration - n_low) / (width - n_low)
    assert abs(counts.std() - np.sqrt((width - n_low) * prob * (1 - prob))) < 1.5


def test_same_seed_same_mask_and_jax_keys():
    a = om.random_mask(42, 320, 0.08, 4)
    np.testing.assert_array_equal(a, om.random_mask(42, 320, 0.08, 4))
    assert not np.array_equal(a, om.random_mask(43, 320, 0.08, 4))
    k = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(om.random_mask(k, 320), om.random_mask(k, 320))
    assert not np.array_equal(om.random_mask(k, 320), om.random_mask(jax.random.PRNGKey(4), 320))
    typed = jax.random.key(3)
    np.testing.assert_array_equal(om.equispaced_mask(typed, 320), om.equispaced_mask(typed, 320))
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(om.random_mask(g1, 64), om.random_mask(g2, 64))


@pytest.mark.parametrize(("width", "fraction", "acceleration"), [(320, 0.08, 4), (368, 0.04, 8)])
def test_equispaced_fraction_matching_spacing_and_count(width, fraction, acceleration):
    n_low = round(width * fraction)
    spacing = acceleration * (n_low - width) / (n_low * acceleration - width)
    centre = center_lines(width, fraction)
    firsts = set()
    for seed in range(20):
        mask = om.equispaced_mask(seed, width, fraction, acceleration)
        # the offset is drawn from {0, ..., round(spacing) - 1}; the lines are
        # round(offset + j * spacing) below W - 1, plus the centre
        offset = int(np.flatnonzero(mask)[0])
        assert offset < round(spacing)
        firsts.add(offset)
        picks = np.around(np.arange(offset, width - 1, spacing)).astype(int)
        gaps = np.diff(picks)
        assert set(np.unique(gaps)) <= {np.floor(spacing), np.ceil(spacing)}
        np.testing.assert_array_equal(np.flatnonzero(mask), np.union1d(picks, centre))
        # adjusted spacing makes the total about W / R (rounding and centre overlap)
        assert abs(mask.sum() - width / acceleration) <= 3
    assert len(firsts) > 1  # the offset is random
    assert spacing > acceleration  # the centre's lines are paid for by wider spacing


def test_equispaced_offset_and_plain_mode():
    width = 64
    m = om.equispaced_mask(0, width, 0.0, 4, offset=1, fraction_matching=False)
    np.testing.assert_array_equal(np.flatnonzero(m), np.arange(1, width, 4))
    m = om.equispaced_mask(0, width, 0.125, 4, offset=2, fraction_matching=False)
    expected = np.union1d(np.arange(2, width, 4), center_lines(width, 0.125))
    np.testing.assert_array_equal(np.flatnonzero(m), expected)
    offsets = {
        np.flatnonzero(om.equispaced_mask(s, width, 0.0, 4, fraction_matching=False))[0]
        for s in range(40)
    }
    assert offsets == {0, 1, 2, 3}


def test_multiple_choices_and_bad_parameters():
    chosen = {om.random_mask(s, 320, [0.08, 0.04], [4, 8]).sum() < 60 for s in range(30)}
    assert chosen == {True, False}  # both (0.08, 4) and (0.04, 8) get drawn
    with pytest.raises(ValueError, match="same length"):
        om.random_mask(0, 320, [0.08, 0.04], [4])
    with pytest.raises(ValueError, match="center fractions"):
        om.random_mask(0, 320, 1.5, 4)
    with pytest.raises(ValueError, match="accelerations"):
        om.equispaced_mask(0, 320, 0.08, 0.5)
    with pytest.raises(ValueError, match="num_cols"):
        om.random_mask(0, 0)


def test_poisson_mask_from_sigpy():
    mask = om.poisson_mask((32, 40), 3.0, calib=(8, 8), seed=1)
    assert mask.shape == (32, 40) and mask.dtype == np.float32
    assert abs(mask.size / mask.sum() - 3.0) < 0.1  # sigpy's tolerance
    assert np.all(mask[12:20, 16:24] == 1)  # calibration region
    np.testing.assert_array_equal(mask, om.poisson_mask((32, 40), 3.0, calib=(8, 8), seed=1))
    with pytest.raises(ValueError, match="shape"):
        om.poisson_mask((4, 4, 4), 2.0)


def test_lines_to_2d():
    m = om.random_mask(0, 24, 0.125, 4)
    m2 = om.lines_to_2d(m, 10)
    assert m2.shape == (10, 24) and np.all(m2 == m)
