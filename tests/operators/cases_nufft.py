"""NUFFT cases for the generic property tests: both backends, 2-D and 3-D, single and multi-coil.

``normal_rtol=1e-3``: ``A.N`` is the Toeplitz-embedded normal operator, equal to ``A.H @ A`` only
to the NUFFT accuracy. The jax-finufft cases use a small ``eps`` (1e-6 single, 1e-12 double)
because FINUFFT's type-1 transform is the adjoint of its type-2 transform only to ``eps``; the
pure-JAX backend's adjoint is exact at any ``eps``.
"""

import numpy as np

import operators.mri as mri
from tests.operators.registry import COMPLEX, register

RNG = np.random.default_rng(7)
COORDS_2D = mri.radial(20, 15, (16, 16), golden=True)  # 300 points
COORDS_3D = mri.radial_3d(30, 8, (8, 8, 8))  # 240 points
MAPS = RNG.standard_normal((3, 16, 16)) + 1j * RNG.standard_normal((3, 16, 16))


def _finufft_eps(dtype) -> float:
    return 1e-6 if np.dtype(dtype) == np.complex64 else 1e-12


@register("nufft-jax-2d", dtypes=COMPLEX, normal_rtol=1e-3)
def _(dtype):
    return mri.nufft(COORDS_2D, (16, 16), eps=1e-4, backend="jax", dtype=dtype)


@register("nufft-jax-3d", dtypes=COMPLEX, normal_rtol=1e-3)
def _(dtype):
    return mri.nufft(COORDS_3D, (8, 8, 8), eps=1e-4, backend="jax", dtype=dtype)


@register("nufft-finufft-2d", dtypes=COMPLEX, normal_rtol=1e-3)
def _(dtype):
    return mri.nufft(COORDS_2D, (16, 16), eps=_finufft_eps(dtype), backend="finufft", dtype=dtype)


@register("nufft-sense-jax-3coils", dtypes=COMPLEX, normal_rtol=1e-3)
def _(dtype):
    return mri.nufft_sense(MAPS.astype(dtype), COORDS_2D, eps=1e-4, backend="jax")


@register("nufft-sense-finufft-3coils", dtypes=COMPLEX, normal_rtol=1e-3)
def _(dtype):
    eps = _finufft_eps(dtype)
    return mri.nufft_sense(MAPS.astype(dtype), COORDS_2D, eps=eps, backend="finufft")


@register("toeplitz-normal-jax-2d", dtypes=COMPLEX)
def _(dtype):
    A = mri.nufft(COORDS_2D, (16, 16), eps=1e-4, backend="jax", dtype=dtype, toeplitz=False)
    return mri.toeplitz_normal(A, weights=1.0 + np.linalg.norm(COORDS_2D, axis=-1))
