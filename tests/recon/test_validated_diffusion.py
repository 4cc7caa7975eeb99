"""Validated dds (:mod:`recon.validated_diffusion`): the choice logic on synthetic residuals,
the agreement figure, and the per-slice decision and record from synthetic candidates."""

from __future__ import annotations

import numpy as np
import pytest

from recon import validated_diffusion as vd
from recon.measurement_split import split


def _spread(floor, n_real):
    return 3 * floor * np.sqrt(2.0 / n_real)


def test_blend_chosen_when_smallest_beyond_the_floor_spread():
    floor, n_real = 0.1, 20000
    assert _spread(floor, n_real) < 0.005
    assert vd.CANDIDATES == ("cg-sense", "l1-wavelet", "blend 0.25", "blend 0.5",
                             "blend 0.75", "dds")
    res = [0.30, 0.20, 0.15, 0.12, 0.14, 0.18]
    assert vd.choose(res, floor, n_real) == ("blend 0.5", True)
    assert vd.dds_weight("blend 0.5") == 0.5
    assert vd.choose([0.3, 0.11, 0.15, 0.2, 0.3, 0.4], floor, n_real) == ("l1-wavelet", True)
    assert vd.choose([0.5, 0.4, 0.3, 0.2, 0.15, 0.11], floor, n_real) == ("dds", True)
    assert vd.choose([0.105, 0.4, 0.3, 0.2, 0.15, 0.11], floor, n_real) == ("cg-sense", True)
    assert vd.dds_weight("cg-sense") == vd.dds_weight("l1-wavelet") == 0.0


def test_undecided_returns_the_l1_wavelet_image():
    floor, n_real = 0.1, 20000
    s = _spread(floor, n_real)
    # dds has the smallest residual, but every excess is within the spread: L1-wavelet
    res = [floor + f * s for f in (0.95, 0.9, 0.6, 0.3, 0.1, 0.0)]
    assert vd.choose(res, floor, n_real) == ("l1-wavelet", False)


def test_agreement_definition():
    # spread energy equal to the noise energy on the acquired samples: 1
    assert vd.agreement(2 * 0.5**2 * 100 * 4, 0.5, 100, 4) == pytest.approx(1.0)
    assert vd.agreement(0.0, 0.5, 100, 4) == 0.0


def _outputs(res, h=8, w=8):
    rng = np.random.default_rng(0)
    classical = (rng.standard_normal((1, h, w)) + 1j).astype(np.complex64)
    mean = (rng.standard_normal((1, h, w)) - 1j).astype(np.complex64)
    return {"residuals": np.asarray([res], np.float32), "classical": classical, "mean": mean,
            "cg": 2 * classical, "setting": np.asarray([2]),
            "setting_residuals": np.asarray([[0.3, 0.2, 0.1, 0.4]], np.float32),
            "std": np.ones((1, h, w), np.float32), "spread": np.asarray([3.0], np.float32)}


@pytest.mark.parametrize(("res", "choice", "decided"), [
    ([7.0, 5.0, 4.0, 0.5, 3.0, 6.0], "blend 0.5", True),  # blend 0.5 far below the others
    ([1.5, 5.0, 4.0, 3.0, 3.0, 6.0], "cg-sense", True),
    ([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "l1-wavelet", False),  # within the spread: undecided
])
def test_decide_all_images_and_record(res, choice, decided):
    h = w = 64
    mask = np.zeros(w, np.float32)
    mask[::2] = 1
    mask[w // 2 - 4 : w // 2 + 4] = 1
    _, held = split(mask, (h, w), 0.2, lines=True)
    ksp = np.ones((1, 2, h, w), np.complex64) * mask
    out = _outputs(res, h, w)
    sigma = np.sqrt(np.sum(np.abs(ksp * held) ** 2) / (2 * held.sum() * 2))  # floor 1.0
    images, rec = vd.decide_all(out, ksp, mask, held, np.array([sigma]), 0.25,
                                vd.SETTINGS_GRID)
    assert set(rec) == set(vd.RECORD_FIELDS)
    level, weight = vd.SETTINGS_GRID[2]
    assert rec["warm_start"][0] == pytest.approx(0.25 * level)
    assert rec["consistency_weight"][0] == weight
    np.testing.assert_allclose(rec["setting_residual"][0], [0.3, 0.2, 0.1, 0.4], rtol=1e-6)
    assert rec["noise_floor"][0] == pytest.approx(1.0, rel=1e-5)
    weight = vd.dds_weight(choice)
    assert rec["weight"][0] == weight and rec["decided"][0] == decided
    assert rec["choice"][0] == choice.encode()
    assert rec["heldout_residual"].shape == rec["candidates"].shape == (1, len(vd.CANDIDATES))
    assert [c.decode() for c in rec["candidates"][0]] == list(vd.CANDIDATES)
    expect = (out["cg"][0] if choice == "cg-sense"
              else weight * out["mean"][0] + (1 - weight) * out["classical"][0])
    np.testing.assert_allclose(images[0], expect, rtol=1e-6)
    n_acq = h * int(mask.sum())
    assert rec["posterior_agreement"][0] == pytest.approx(3.0 / (2 * sigma**2 * n_acq * 2))
    assert rec["posterior_disagrees"][0] == (rec["posterior_agreement"][0] > vd.AGREEMENT_LIMIT)


def test_too_few_lines_to_split_is_refused():
    w = 64
    mask = np.zeros(w, np.float32)
    mask[w // 2 - 8 : w // 2 + 8] = 1
    mask[3] = 1  # one line outside the calibration block
    with pytest.raises(ValueError, match="too few"):
        vd.masks(mask, (64, w), None)
