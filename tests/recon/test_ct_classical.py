"""``recon.ct.classical``: TV, SIRT and CGLS for ``recon ct``, on a small parallel-beam phantom."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from operators.ct import parallel_beam
from recon.ct.classical import slice_solver


def _phantom(n=32):
    yy, xx = np.mgrid[:n, :n] / n - 0.5
    img = ((xx**2 / 0.35**2 + yy**2 / 0.25**2) < 1).astype(np.float32)
    img += 0.5 * (((xx - 0.1) ** 2 + yy**2) < 0.08**2)
    return jnp.asarray(img)


@pytest.fixture(scope="module")
def problem():
    angles = np.linspace(0, np.pi, 24, endpoint=False)
    A = parallel_beam((32, 32), angles, 48)
    x = _phantom()
    y = A(x) + 0.01 * jnp.mean(jnp.abs(A(x))) * jax.random.normal(jax.random.key(0), A.out_shape)
    return A, x, y


def _rel_err(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


@pytest.mark.parametrize("method,bound", [("tv", 0.15), ("sirt", 0.3), ("cgls", 0.3)])
def test_solvers_reconstruct(problem, method, bound):
    A, x, y = problem
    zero = _rel_err(jnp.zeros_like(x), x)
    out = jax.jit(lambda y: slice_solver(method)(A, y))(y)
    assert out.shape == x.shape and bool(jnp.all(jnp.isfinite(out)))
    assert _rel_err(out, x) < bound < zero


def test_tv_weight_is_relative_to_the_data_scale(problem):
    A, _, y = problem
    solve = jax.jit(lambda y: slice_solver("tv", lam=0.1, iters=100)(A, y))
    np.testing.assert_allclose(solve(10.0 * y), 10.0 * solve(y), rtol=2e-3, atol=1e-4)


def test_tv_beats_cgls_with_noise(problem):
    A, x, y = problem
    tv = slice_solver("tv")(A, y)
    cg = slice_solver("cgls", iters=100)(A, y)  # unregularised, run long: fits the noise
    assert _rel_err(tv, x) < _rel_err(cg, x)


@pytest.mark.parametrize("kwargs,match", [({"method": "art"}, "one of"),
                                          ({"method": "tv", "lam": 0.0}, "--lam"),
                                          ({"method": "sirt", "iters": 0}, "--iters")])
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        slice_solver(**kwargs)
