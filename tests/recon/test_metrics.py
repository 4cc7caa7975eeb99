"""fastMRI / dival metrics against scikit-image on the same arrays."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from recon import metrics

RNG = np.random.default_rng(3)
GT = np.abs(RNG.standard_normal((3, 40, 36))).cumsum(axis=2)
PRED = GT + 0.3 * RNG.standard_normal(GT.shape)


def test_nmse_definition():
    expected = np.linalg.norm(GT - PRED) ** 2 / np.linalg.norm(GT) ** 2
    assert metrics.nmse(GT, PRED) == pytest.approx(expected, rel=1e-12)


def test_psnr_volume_matches_skimage_with_volume_max():
    ref = peak_signal_noise_ratio(GT, PRED, data_range=GT.max())
    assert metrics.psnr(GT, PRED) == pytest.approx(ref, rel=1e-12)


def test_ssim_volume_matches_skimage_per_slice_with_volume_max():
    pairs = list(zip(GT, PRED, strict=True))
    ref = np.mean([structural_similarity(g, p, data_range=GT.max()) for g, p in pairs])
    assert metrics.ssim(GT, PRED) == pytest.approx(ref, abs=1e-10)
    # the volume maximum, not the per-slice one, sets the constants
    per_slice = np.mean([structural_similarity(g, p, data_range=g.max()) for g, p in pairs])
    assert abs(metrics.ssim(GT, PRED) - per_slice) > 1e-6


def test_dival_per_image_matches_skimage_max_minus_min():
    out = metrics.per_image(GT, PRED)
    for i in range(GT.shape[0]):
        dr = GT[i].max() - GT[i].min()
        assert out["PSNR"][i] == pytest.approx(
            peak_signal_noise_ratio(GT[i], PRED[i], data_range=dr), rel=1e-12)
        assert out["SSIM"][i] == pytest.approx(
            structural_similarity(GT[i], PRED[i], data_range=dr), abs=1e-10)


def test_fastmri_metrics_keys_and_perfect_prediction():
    m = metrics.fastmri_metrics(GT, GT)
    assert m["NMSE"] == 0.0 and m["PSNR"] == float("inf") and m["SSIM"] == pytest.approx(1.0)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(GT, PRED[:2])
    with pytest.raises(ValueError, match="3-D"):
        metrics.ssim(GT[0], PRED[0])
    bad = PRED.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.nmse(GT, bad)
