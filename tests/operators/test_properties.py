"""Generic properties every registered operator must have (DESIGN.md, "Tests").

Adjoint: |<Ax, y> - <x, A^H y>| / (||A|| ||x|| ||y||) <= 1e-6 (single) / 1e-12 (double).
"""

from __future__ import annotations

import importlib
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from operators.linop import estimate_norm
from tests.operators.registry import CASES

for _path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
    importlib.import_module(f"tests.operators.{_path.stem}")

PARAMS = [
    pytest.param(case, np.dtype(dt), id=f"{name}-{np.dtype(dt).name}")
    for name, case in sorted(CASES.items())
    for dt in case.dtypes
]

_built: dict = {}


def build(case, dtype):
    key = (case.name, dtype.name)
    if key not in _built:
        _built[key] = case.factory(dtype)
    return _built[key]


def is_double(dtype) -> bool:
    return np.dtype(dtype) in (np.dtype(np.float64), np.dtype(np.complex128))


def random_array(key, shape, dtype):
    dtype = np.dtype(dtype)
    real = jnp.float64 if is_double(dtype) else jnp.float32
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, shape, dtype=real)
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * jax.random.normal(k2, shape, dtype=real)
    return x.astype(dtype)


def rel(a, b):
    return float(jnp.linalg.norm((a - b).ravel()) / jnp.linalg.norm(b.ravel()))


@pytest.mark.parametrize(("case", "dtype"), PARAMS)
def test_adjoint(case, dtype):
    A = build(case, dtype)
    kx, ky, kn = jax.random.split(jax.random.PRNGKey(0), 3)
    x = random_array(kx, A.in_shape, A.in_dtype)
    y = random_array(ky, A.out_shape, A.out_dtype)
    Ax, AHy = A(x), A.H(y)
    assert Ax.shape == tuple(A.out_shape) and Ax.dtype == A.out_dtype
    assert AHy.shape == tuple(A.in_shape) and AHy.dtype == A.in_dtype
    lhs = jnp.vdot(Ax.ravel(), y.ravel())
    rhs = jnp.vdot(x.ravel(), AHy.ravel())
    norm_a = estimate_norm(A, kn)
    err = float(jnp.abs(lhs - rhs) / (norm_a * jnp.linalg.norm(x) * jnp.linalg.norm(y)))
    tol = 1e-12 if is_double(dtype) else 1e-6
    assert err <= tol, f"normalised adjoint error {err:.2e} > {tol:.0e}"


@pytest.mark.parametrize(("case", "dtype"), PARAMS)
def test_double_adjoint_and_normal(case, dtype):
    A = build(case, dtype)
    assert A.H.H is A
    x = random_array(jax.random.PRNGKey(1), A.in_shape, A.in_dtype)
    expected = A.H(A(x))
    tol = case.normal_rtol or (1e-10 if is_double(dtype) else 1e-5)
    assert rel(A.N(x), expected) <= tol


@pytest.mark.parametrize(("case", "dtype"), PARAMS)
def test_linearity(case, dtype):
    A = build(case, dtype)
    k1, k2 = jax.random.split(jax.random.PRNGKey(2))
    x, z = random_array(k1, A.in_shape, A.in_dtype), random_array(k2, A.in_shape, A.in_dtype)
    a = 0.7 - 0.3j if np.issubdtype(A.in_dtype, np.complexfloating) else 0.7
    tol = 1e-10 if is_double(dtype) else 1e-5
    assert rel(A(a * x + 2.0 * z), a * A(x) + 2.0 * A(z)) <= tol


@pytest.mark.parametrize(("case", "dtype"), PARAMS)
def test_jit_and_vmap(case, dtype):
    A = build(case, dtype)
    xs = random_array(jax.random.PRNGKey(3), (2, *A.in_shape), A.in_dtype)
    tol = 1e-10 if is_double(dtype) else 1e-5
    eager = jnp.stack([A(x) for x in xs])
    jitted = jax.jit(lambda op, v: op(v))(A, xs[0])
    assert rel(jitted, eager[0]) <= tol
    batched = jax.vmap(A)(xs)
    assert rel(batched, eager) <= tol
    adj = jax.jit(jax.vmap(lambda v: A.H(v)))(eager)
    assert rel(adj, jnp.stack([A.H(v) for v in eager])) <= tol


@pytest.mark.parametrize(
    ("case", "dtype"), [p for p in PARAMS if is_double(p.values[1]) and p.values[0].check_grads]
)
def test_gradients(case, dtype):
    A = build(case, dtype)
    x = random_array(jax.random.PRNGKey(4), A.in_shape, A.in_dtype)

    def loss(v):
        return jnp.sum(jnp.abs(A(v)) ** 2) + jnp.real(jnp.sum(A.H(A(v))))

    check_grads(loss, (x,), order=1, modes=("rev",), atol=1e-5, rtol=1e-5)
