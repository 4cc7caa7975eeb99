"""The shipped priors load by name and beat the best-tuned Gaussian filter on held-out images.

Figures are printed (run with ``-s``). The test asserts a positive gain at every level and the
issue's target, a gain of at least 3 dB at sigma = 0.1 (the record is in
``experiments/PRIORS.md``). Images never seen in training: for ``ct-ellipses`` ellipse
images from a key domain that training does not use; for ``mri-brain`` axial planes from the
held-out slab of the template.
"""

import jax
import jax.numpy as jnp
import pytest

from models import load_prior
from models.data.brain import heldout_slices
from models.data.ellipses import EllipsesSource
from models.evaluate import compare_with_gaussian, format_rows

SIGMAS = (0.05, 0.1, 0.2)


def _images(name):
    if name == "ct-ellipses":
        return EllipsesSource().heldout(4)
    return heldout_slices(4)


@pytest.mark.parametrize("name", ["ct-ellipses", "mri-brain"])
def test_shipped_prior_beats_gaussian_filter(name):
    prior = load_prior(name)
    clean = _images(name)
    assert jnp.iscomplexobj(clean) == prior.config.complex
    den = jax.jit(prior.__call__)
    out = den(clean, 0.1)
    assert out.dtype == clean.dtype and out.shape == clean.shape
    rows = compare_with_gaussian(den, clean, SIGMAS)
    print("\n" + format_rows(name, rows))
    for r in rows:
        assert r["gain_db"] > 0, r
    assert rows[1]["sigma"] == 0.1 and rows[1]["gain_db"] >= 3.0, rows[1]


def test_unknown_prior_refused():
    with pytest.raises(ValueError, match="available"):
        load_prior("nope")
