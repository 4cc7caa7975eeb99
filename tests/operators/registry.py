"""Registry of operator factories for the generic property tests (``test_properties.py``).

Register a case with::

    @register("sense-2d-multicoil", dtypes=COMPLEX)
    def _(dtype):
        return operators.mri.sense(maps.astype(dtype), mask)

Every registered case is crossed with its dtypes and checked for the adjoint identity, ``A.H.H``,
``A.N``, linearity, jit and vmap equivalence and gradients. ``normal_rtol`` loosens the ``A.N``
check for operators whose normal form is an approximation (Toeplitz NUFFT); ``adjoint_tol``
overrides the DESIGN.md tolerance only with a reason in the case's docstring.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

COMPLEX = (np.complex64, np.complex128)
REAL = (np.float32, np.float64)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    factory: Callable
    dtypes: tuple
    normal_rtol: float | None = None
    check_grads: bool = True


CASES: dict[str, Case] = {}


def register(name: str, dtypes=COMPLEX, normal_rtol: float | None = None, check_grads=True):
    def decorator(factory: Callable) -> Callable:
        if name in CASES:
            raise ValueError(f"operator case {name!r} registered twice")
        CASES[name] = Case(name, factory, tuple(dtypes), normal_rtol, check_grads)
        return factory

    return decorator
