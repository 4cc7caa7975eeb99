"""CT projector cases for the generic property tests (small sizes so they stay fast).

The ray-driven parallel and flat fan-beam variants share the arc case's engine (only the ray
endpoints differ); their adjoints are checked more cheaply in ``tests/operators/test_ct.py``.
"""

import numpy as np

from operators.ct import cone_beam, fan_beam, parallel_beam
from operators.finite_difference import finite_difference
from tests.operators.registry import COMPLEX, REAL, register

ANGLES = np.linspace(0.0, np.pi, 12, endpoint=False) + 0.1
FULL = np.linspace(0.0, 2 * np.pi, 10, endpoint=False) + 0.05


@register("ct-parallel-fourier", dtypes=REAL)
def _(dtype):
    return parallel_beam((16, 14), ANGLES, 23, det_spacing=0.9, det_offset=0.3, dtype=dtype)


@register("ct-fan-arc", dtypes=REAL)
def _(dtype):
    return fan_beam((15, 16), FULL, 25, 40.0, 20.0, det_spacing=1.2, detector="arc", dtype=dtype)


@register("ct-cone", dtypes=REAL)
def _(dtype):
    return cone_beam((6, 8, 7), FULL[:6], (9, 11), 30.0, 15.0, det_spacing=(1.1, 1.4), dtype=dtype)


@register("finite-difference-2d", dtypes=REAL)
def _(dtype):
    return finite_difference((7, 5), dtype=dtype)


@register("finite-difference-3d-axes", dtypes=COMPLEX)
def _(dtype):
    return finite_difference((3, 6, 5), axes=(1, 2), dtype=dtype)


@register("ct-cone-ray", dtypes=REAL)
def _(dtype):
    """Joseph engine (``ct-cone`` above runs the default rotated-frame engine)."""
    return cone_beam(
        (6, 8, 7), FULL[:6], (9, 11), 30.0, 15.0, det_spacing=(1.1, 1.4), dtype=dtype, method="ray"
    )
