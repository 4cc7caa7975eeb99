"""recon.ct.noise_estimate: the white-noise std of a sinogram from the sinogram itself.

Data without the inverse crime: images on a 2x finer grid (256², pixel 0.5) projected there;
noise levels 0.5-10 % of the mean |y| (issue 16: within 10 % of the true std).
"""

import numpy as np
import pytest

from recon.ct.noise_estimate import estimate_sinogram_noise

LEVELS = (0.005, 0.01, 0.025, 0.05, 0.1)


@pytest.fixture(scope="module")
def clean():
    """Noise-free parallel and fan sinograms of 2 ellipse images and Shepp-Logan, projected on
    a 2x finer grid (no inverse crime), as the experiment measures them."""
    from experiments.eval_noise_estimate import clean_sinograms

    return clean_sinograms(2, seed=11)


@pytest.mark.parametrize("geometry", ["parallel", "fan"])
def test_within_ten_percent_over_the_noise_range(clean, geometry):
    errors = np.zeros((len(clean[geometry]), len(LEVELS)))
    for i, sino in enumerate(clean[geometry]):
        for j, level in enumerate(LEVELS):
            std = level * np.mean(np.abs(sino))
            rng = np.random.default_rng([i, j, 7])
            est = estimate_sinogram_noise(sino + std * rng.standard_normal(sino.shape))
            assert est.method == "air" and est.count >= 64
            errors[i, j] = est.std / std - 1
    print(f"\n{geometry}: relative error per phantom (rows) and level {LEVELS} (columns)")
    print(np.array2string(errors, precision=3, suppress_small=True))
    assert np.all(np.abs(errors) < 0.10), errors


def test_stacks_and_cone_shapes_and_units():
    rng = np.random.default_rng(0)
    sino = np.zeros((3, 20, 64))
    sino[..., 20:44] = 50.0  # object in the middle, air at both ends
    noisy = sino + 0.3 * rng.standard_normal(sino.shape)
    est = estimate_sinogram_noise(noisy)  # a stack (or a cone-beam scan): one estimate
    assert est.method == "air" and abs(est.std / 0.3 - 1) < 0.1
    assert np.isclose(estimate_sinogram_noise(7 * noisy).std, 7 * est.std)


def test_no_air_falls_back_to_differences():
    rng = np.random.default_rng(1)
    k = np.arange(128)
    sino = 40 + 10 * np.sin(k / 20)[None] + 0.5 * rng.standard_normal((30, 128))
    est = estimate_sinogram_noise(sino)
    assert est.method == "differences" and est.std >= 0.45


def test_bad_input_raises():
    with pytest.raises(ValueError, match="at least 4 detector bins"):
        estimate_sinogram_noise(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN or Inf"):
        estimate_sinogram_noise(np.full((3, 8), np.nan))
