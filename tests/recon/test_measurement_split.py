"""recon.measurement_split: the split's invariants, the residual, the decision rule, and
``reconstruct(lam="auto")`` close to the oracle weight on a noisy phantom."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from operators.mri import random_mask, sense
from recon import measurement_split as ms
from recon.classical_mri import DEFAULTS, reconstruct
from recon.metrics import psnr
from recon.simulate import phantom_kspace

N = 64


@pytest.fixture(scope="module")
def mask():
    return np.asarray(random_mask(3, N, 0.12, 3), np.float32)


def test_points_split_partitions_the_acquired_samples_outside_the_centre(mask):
    train, held = ms.split(mask, (N, N), 0.2, seed=1)
    acquired = np.broadcast_to(mask != 0, (N, N))
    centre = ms.calibration_block(mask, (N, N))
    assert not np.any((train != 0) & (held != 0))
    assert np.array_equal((train != 0) | (held != 0), acquired)
    assert not np.any((held != 0) & centre) and np.all(train[centre] != 0)
    outside = int((acquired & ~centre).sum())
    assert int(held.sum()) == round(0.2 * outside)


def test_line_folds_hold_out_whole_disjoint_lines(mask):
    helds = [ms.split(mask, (N, N), 0.1, seed=0, lines=True, fold=f)[1] for f in range(3)]
    for held in helds:
        cols = np.flatnonzero(held.any(axis=0))
        assert cols.size >= 1 and np.all(held[:, cols] == 1)  # every row of each line
    assert not np.any((helds[0] != 0) & (helds[1] != 0))


@pytest.mark.parametrize("fraction", [0.0, -0.1, 0.6, float("nan")])
def test_bad_fraction_is_refused(mask, fraction):
    with pytest.raises(ValueError, match=r"\(0, 0.5\]"):
        ms.split(mask, (N, N), fraction)


def test_too_few_samples_to_split_is_refused():
    centre_only = np.zeros(N, np.float32)
    centre_only[N // 2 - 4: N // 2 + 4] = 1
    centre_only[3] = 1  # one line outside the calibration region: 64 points, 13 held out
    with pytest.raises(ValueError, match="too few"):
        ms.split(centre_only, (N, N), 0.2)


def test_heldout_residual_is_zero_for_the_truth_and_one_for_zero(mask):
    rng = np.random.default_rng(0)
    maps = (rng.standard_normal((4, N, N)) + 1j * rng.standard_normal((4, N, N))) / 3
    x = rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N))
    A = sense(maps.astype(np.complex64))
    y = A(x.astype(np.complex64))
    _, held = ms.split(mask, (N, N), 0.2)
    assert float(ms.heldout_residual(A, held, x.astype(np.complex64), y)) < 1e-10
    assert float(ms.heldout_residual(A, held, np.zeros((N, N), np.complex64), y)) == \
        pytest.approx(1.0)


def test_decide_is_undecided_within_the_noise_floor_and_picks_the_minimum_outside():
    floor, n = 0.1, 20_000  # spread = 3 * 0.1 * sqrt(2 / 20000) = 0.003
    assert ms.decide([0.101, 0.1015, 0.102], floor, n).best is None
    assert ms.decide([0.2, 0.12, 0.3], floor, n).best == 1
    # far above the floor, but no candidate predicts the held-out samples better than zero
    assert ms.decide([1.2, 1.05, 1.3], floor, n).best == 1
    assert ms.decide([1.2, 1.05, 1.3], floor, n, must_beat_zero=True).best is None


@pytest.mark.parametrize("method", ["cg-sense", "tv"])
def test_auto_weight_is_close_to_the_oracle_on_a_noisy_phantom(method):
    d = phantom_kspace((N, N), num_coils=4, noise=0.03, key=jax.random.PRNGKey(7))
    m = np.asarray(random_mask(11, N, 0.16, 3), np.float32)
    k, target = (d["kspace"] * m)[None], d["target"][None]
    grid = DEFAULTS[method]["lam"] * 2.0 ** np.arange(-4, 9)
    scores = [psnr(target, reconstruct(k, m, method, lam=float(g), iters=40)) for g in grid]
    record: dict = {}
    auto = psnr(target, reconstruct(k, m, method, lam="auto", iters=40, record=record))
    assert record["candidates"].shape == record["heldout_residual"].shape == (1, 8)
    assert record["noise_floor"][0] > 0 and record["validated"][0] in record["candidates"][0]
    assert np.isclose(record["lam"][0], record["validated"][0] * ms.SCHEMES[method].shrink)
    assert max(scores) - auto < 1.0, (auto, max(scores), record["lam"], grid)
    assert auto > min(scores) + 1.0  # the choice matters here: the grid spans > 1 dB


def test_choose_weights_refines_shrinks_decided_slices_and_keeps_the_default_otherwise():
    # slice 0: a residual smallest at 8 (the coarse grid has 4 and 16, the refinement finds
    # 8), far above its floor; slice 1: every candidate at its noise floor (undecided);
    # slice 2: slice 0's shape above 1, no weight better than predicting zero (undecided)
    def score(lams):
        shape = 0.1 * (np.log2(lams[0]) - 3.0) ** 2
        return np.stack([0.2 + shape, np.full(lams.shape[1], 0.3), 1.01 + shape])

    rec = ms.choose_weights(score, 1.0, (1 / 4, 1.0, 4.0, 16.0), (0.5, 2.0),
                            floors=[0.1, 0.3, 0.1], n_real=200, shrink=0.5)
    assert rec["decided"].tolist() == [True, False, False]
    assert rec["validated"][0] == 8.0 and rec["lam"][0] == 4.0
    assert rec["validated"][1:].tolist() == rec["lam"][1:].tolist() == [1.0, 1.0]  # default
    assert rec["candidates"].shape == rec["heldout_residual"].shape == (3, 6)


def test_sinogram_split_random_bins_and_whole_views():
    train, held = ms.split_array((30, 183), 0.2, seed=3)
    assert not np.any((train != 0) & (held != 0)) and np.all((train != 0) | (held != 0))
    assert int(held.sum()) == round(0.2 * 30 * 183)
    views = [ms.split_array((30, 183), 0.1, seed=0, lines=True, fold=f)[1] for f in range(3)]
    for held in views:
        rows = np.flatnonzero(held.any(axis=1))
        assert rows.size == 3 and np.all(held[rows] == 1)  # every bin of each held-out view
    assert not np.any((views[0] != 0) & (views[1] != 0))


@pytest.mark.parametrize("fraction", [0.0, 0.6, float("nan")])
def test_sinogram_split_refuses_bad_fractions_and_too_few_bins(fraction):
    with pytest.raises(ValueError, match=r"\(0, 0.5\]"):
        ms.split_array((30, 183), fraction)
    with pytest.raises(ValueError, match="too few"):
        ms.split_array((8, 20), 0.2)  # 32 bins
    with pytest.raises(ValueError, match="too few views"):
        ms.split_array((10, 20), 0.2, lines=True)  # 2 views of 20 bins


def test_noise_floor_counts_real_components():
    assert ms.noise_floor(0.5, 100, 1, 50.0, components=1) == pytest.approx(0.5)
    assert ms.noise_floor(0.5, 100, 4, 50.0) == pytest.approx(4.0)
