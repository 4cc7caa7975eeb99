"""Cartesian MRI cases: centred FFT and SENSE (2D/3D, single/multi-coil, line/Poisson masks)."""

import numpy as np

import operators.mri as om
from tests.operators.registry import COMPLEX, register

RNG = np.random.default_rng(7)


def _maps(shape):
    return RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)


MAPS_1 = _maps((1, 16, 20))
MAPS_8 = _maps((8, 16, 24))
MAPS_3D = _maps((3, 6, 8, 10))
MAPS_ODD = _maps((2, 15, 17))
LINES_24 = om.random_mask(0, 24, 0.125, 4)
LINES_10 = om.equispaced_mask(1, 10, 0.2, 3)
LINES_17 = om.random_mask(2, 17, 0.2, 2)
POISSON = om.poisson_mask((16, 24), 2.5, calib=(4, 4), seed=3)


@register("cartesian-fft-2d", dtypes=COMPLEX)
def _(dtype):
    return om.fft_op((3, 16, 15), axes=(-2, -1), dtype=dtype)


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


@register("sense-2d-odd-lines", dtypes=COMPLEX)
def _(dtype):
    """Odd sizes: phase-ramp centring instead of checkerboards, pruned."""
    return om.sense(MAPS_ODD.astype(dtype), LINES_17)


@register("sense-3d-multicoil-lines", dtypes=COMPLEX)
def _(dtype):
    return om.sense(MAPS_3D.astype(dtype), LINES_10, prune=True)
