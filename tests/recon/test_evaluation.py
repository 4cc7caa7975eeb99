"""The three evaluation tiers on synthetic arrays (fast, no reconstruction)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from recon.evaluation import lesions as task
from recon.evaluation.features import frechet_distance, texture_features, texture_frechet
from recon.evaluation.pixel import pixel_metrics
from recon.evaluation.run import verdict
from recon.metrics import dival_psnr, fastmri_metrics

SIGMA = 1.5


def backgrounds(n: int = 6, size: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth positive 'anatomy' with a few edges."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = ndimage.gaussian_filter(rng.standard_normal((size, size)), 6)
        img = 0.6 + img / np.abs(img).max() * 0.3
        img[size // 3 : size // 2, 5:20] += 0.2
        out.append(img)
    return np.asarray(out)


def lesion_data(contrast: float = 0.2, seed: int = 0):
    rng = np.random.default_rng(seed)
    bgs = backgrounds(seed=seed)
    sets = [task.place_lesions(b, 4, SIGMA, contrast, rng) for b in bgs]
    present = np.stack([b + task.lesion_image(b.shape, s) for b, s in zip(bgs, sets,
                                                                          strict=True)])
    return bgs, present, sets


def scores(recon_p, recon_a, truth_p, truth_a, sets):
    cr = np.concatenate([task.contrast_recovery(rp, ra, tp, ta, s) for rp, ra, tp, ta, s in
                         zip(recon_p, recon_a, truth_p, truth_a, sets, strict=True)])
    s_p = np.concatenate([task.observer_statistics(r, s, b) for r, s, b in
                          zip(recon_p, sets, truth_a, strict=True)])
    s_a = np.concatenate([task.observer_statistics(r, s, b) for r, s, b in
                          zip(recon_a, sets, truth_a, strict=True)])
    return cr, task.auc(s_p, s_a), task.dprime(s_p, s_a)


# ------------------------------------------------------------------------------- pixel tier
def test_pixel_metrics_are_recon_metrics():
    truth = backgrounds(3)
    recon = truth + 0.01 * np.random.default_rng(1).standard_normal(truth.shape)
    fm = pixel_metrics(truth, recon, "fastmri")
    assert fm == fastmri_metrics(truth, recon)
    dv = pixel_metrics(truth, recon, "dival")
    assert dv["PSNR"] == pytest.approx(np.mean([dival_psnr(t, r) for t, r in zip(truth, recon,
                                                                                 strict=True)]))
    assert pixel_metrics(truth, truth, "dival")["NMSE"] == 0.0
    with pytest.raises(ValueError, match="convention"):
        pixel_metrics(truth, recon, "other")
    with pytest.raises(ValueError, match="shape"):
        pixel_metrics(truth, recon[:2], "dival")


# ----------------------------------------------------------------------------- feature tier
def test_frechet_self_zero_and_monotonic_in_blur_and_noise():
    truth = backgrounds(4) + np.kron(np.random.default_rng(2).random((4, 8, 8)) > 0.5,
                                     np.ones((8, 8))) * 0.3
    assert texture_frechet(truth, truth) < 1e-10
    blurred = [texture_frechet(truth, ndimage.gaussian_filter(truth, (0, s, s)))
               for s in (0.5, 1.0, 2.0, 3.0)]
    assert np.all(np.diff(blurred) > 0), blurred
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(truth.shape)
    noisy = [texture_frechet(truth, truth + a * noise) for a in (0.01, 0.03, 0.1, 0.3)]
    assert np.all(np.diff(noisy) > 0), noisy
    assert blurred[0] > 0 and noisy[0] > 0


def test_frechet_distance_of_gaussians_closed_form():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((20000, 3))
    b = 2.0 * rng.standard_normal((20000, 3)) + 1.0
    # means differ by 1 per axis (3), covariances I and 4I: tr(I + 4I - 2*2I) = 3
    assert frechet_distance(a, b) == pytest.approx(6.0, rel=0.05)
    assert texture_features(backgrounds(1), patch=16).shape[1] == 8
    with pytest.raises(ValueError, match="patch"):
        texture_features(backgrounds(1), patch=100)


# -------------------------------------------------------------------------------- task tier
def test_place_lesions_inside_object_separated_and_scaled():
    bg = backgrounds(1)[0]
    bg[:, :10] = 0.0  # outside the object
    les = task.place_lesions(bg, 5, SIGMA, 0.05, np.random.default_rng(0))
    h = les.half
    assert len(les.positions) == 5
    assert np.all(les.positions[:, 1] >= 10) and np.all(les.positions >= h)
    d = np.abs(les.positions[:, None] - les.positions[None]).max(-1)
    assert np.all(d[~np.eye(5, dtype=bool)] > 2 * h + 1)
    smooth = ndimage.gaussian_filter(bg, 2 * SIGMA)
    np.testing.assert_allclose(les.amplitudes, 0.05 * smooth[tuple(les.positions.T)])


def test_fine_grid_lesions_average_to_target_grid():
    les = task.LesionSet(np.array([[20, 30]]), np.array([1.0]), 2.0)
    coarse = task.lesion_image((64, 64), les)
    fine = task.lesion_image((128, 128), les, scale=2.0, offset=0.5)  # CT pixel-centre grid
    binned = fine.reshape(64, 2, 64, 2).mean((1, 3))
    assert np.abs(binned - coarse).max() < 0.05
    assert np.unravel_index(np.argmax(binned), binned.shape) == (20, 30)


def test_perfect_reconstruction_recovers_contrast_and_is_detected():
    truth_a, truth_p, sets = lesion_data()
    rng = np.random.default_rng(5)
    noise = 0.01
    cr, a, dp = scores(truth_p + noise * rng.standard_normal(truth_p.shape),
                       truth_a + noise * rng.standard_normal(truth_a.shape),
                       truth_p, truth_a, sets)
    assert np.mean(cr) == pytest.approx(1.0, abs=0.05)
    assert a > 0.95 and dp > 3


def test_erased_lesions_give_zero_contrast_and_chance_auc():
    truth_a, truth_p, sets = lesion_data()
    cr, a, dp = scores(truth_a, truth_a, truth_p, truth_a, sets)
    np.testing.assert_allclose(cr, 0.0, atol=1e-12)
    assert a == pytest.approx(0.5) and dp == pytest.approx(0.0)


def test_half_contrast_is_measured():
    truth_a, truth_p, sets = lesion_data()
    cr, _, _ = scores(0.5 * (truth_p + truth_a), truth_a, truth_p, truth_a, sets)
    np.testing.assert_allclose(cr, 0.5, atol=1e-9)


def test_fake_blob_raises_hallucination_scores():
    truth_a, _, sets = lesion_data()
    truth, les = truth_a[0], sets[0]
    rng = np.random.default_rng(6)
    recon = truth + 0.005 * rng.standard_normal(truth.shape)
    std = np.full(truth.shape, 0.01)
    mask = task.object_mask(truth, SIGMA)
    threshold = float(np.median(les.amplitudes))
    blobs0 = task.false_lesions(recon, truth, SIGMA, threshold, mask)
    frac0 = task.beyond_std(recon, truth, std, 3.0, mask)
    fake = task.LesionSet(np.array([[32, 40], [45, 25]]), np.array([0.2, 0.2]), SIGMA)
    faked = recon + task.lesion_image(truth.shape, fake)
    assert task.false_lesions(faked, truth, SIGMA, threshold, mask) >= blobs0 + 2
    assert task.beyond_std(faked, truth, std, 3.0, mask) > frac0 + 0.005
    assert task.false_lesions(truth, truth, SIGMA, threshold, mask) == 0


def test_auc_and_its_standard_error():
    assert task.auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert task.auc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 0.0
    assert task.auc(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.5
    assert task.auc_standard_error(0.5, 100, 100) == pytest.approx(0.0408, abs=1e-3)
    with pytest.raises(ValueError, match="at least one"):
        task.auc(np.array([]), np.array([1.0]))


def test_verdict_follows_the_numbers():
    rng = np.random.default_rng(7)
    base = {"cr": 0.9 + 0.02 * rng.standard_normal(40), "auc": 0.9, "auc_se": 0.03,
            "blobs": np.array([2.0, 3.0, 2.0, 4.0]), "beyond_std": None}
    erased = dict(base, cr=0.2 + 0.02 * rng.standard_normal(40), auc=0.55,
                  beyond_std=0.002)
    invented = dict(base, blobs=base["blobs"] + np.array([5.0, 6.0, 5.5, 6.5]), beyond_std=0.08)
    same = dict(base, beyond_std=0.003)
    text = " ".join(verdict("ct", "tv", erased, base))
    assert "ERASES" in text and "less than half" in text and "INVENTS" not in text
    text = " ".join(verdict("ct", "tv", invented, base))
    assert "INVENTS" in text and "ERASES" not in text and "8.00 %" in text
    assert "does not explain" in text
    text = " ".join(verdict("mri", "l1", same, base))
    assert "does not erase" in text and "does not invent" in text and "close to" in text
    assert "over-covers" in " ".join(verdict("ct", "tv", dict(base, beyond_std=1e-4), base))
