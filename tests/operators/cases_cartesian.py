"""Cartesian SENSE cases: 2D single-coil, 2D 8-coil with a line mask, 2D Poisson, 3D multi-coil.

Kept to four so the generic property tests stay cheap; odd sizes, the plain centred FFT and the
other pruning modes are checked against sigpy and each other in ``test_cartesian.py``.
"""

import numpy as np

import operators.mri as om
from tests.operators.registry import COMPLEX, register

RNG = np.random.default_rng(7)


def _maps(shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


MAPS_1 = _maps((1, 16, 20))
MAPS_8 = _maps((8, 16, 24))
MAPS_3D = _maps((3, 6, 8, 10))
LINES_24 = om.random_mask(0, 24, 0.125, 4)
LINES_10 = om.equispaced_mask(1, 10, 0.2, 3)
POISSON = om.poisson_mask((16, 24), 2.5, calib=(4, 4), seed=3)


@register("sense-2d-singlecoil", dtypes=COMPLEX)
def _(dtype):
    return om.sense(MAPS_1.astype(dtype))


@register("sense-2d-8coil-lines", dtypes=COMPLEX)
def _(dtype):
    """fastMRI line mask (W,): forward and adjoint both pruned."""
    A = om.sense(MAPS_8.astype(dtype), LINES_24, prune=True)
    assert A.pruned and A.prune_forward
    return A


@register("sense-2d-poisson", dtypes=COMPLEX)
def _(dtype):
    return om.sense(MAPS_8[:4].astype(dtype), POISSON)


@register("sense-3d-multicoil-lines", dtypes=COMPLEX)
def _(dtype):
    """Pruned both ways, coils processed in a lax.map/scan loop."""
    return om.sense(MAPS_3D.astype(dtype), LINES_10, prune=True, coil_loop=True)
