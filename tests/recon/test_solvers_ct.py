"""SIRT, CGLS and PDHG-TV on CT operators (and PDHG on complex images, for MRI)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from operators.ct import parallel_beam
from operators.linop import Identity
from recon.solvers.cgls import cgls
from recon.solvers.pdhg import pdhg_tv, tv_recon
from recon.solvers.sirt import sirt

N = 12
ANGLES = np.linspace(0, np.pi, 18, endpoint=False)


def dense(A):
    basis = jnp.eye(int(np.prod(A.in_shape)), dtype=A.in_dtype).reshape(-1, *A.in_shape)
    return np.asarray(jax.vmap(A)(basis)).reshape(basis.shape[0], -1).T


@pytest.fixture(scope="module")
def problem():
    A = parallel_beam((N, N), ANGLES, 19, dtype=np.float64, method="ray")
    rng = np.random.default_rng(0)
    x = np.zeros((N, N))
    x[3:9, 4:10] = 1.0
    x[5:7, 2:5] += 0.5
    y = np.asarray(A(jnp.asarray(x))) + 0.01 * rng.standard_normal(A.out_shape)
    return A, x, jnp.asarray(y)


def test_cgls_reaches_least_squares(problem):
    A, _, y = problem
    M = dense(A)
    expected = np.linalg.lstsq(M, np.asarray(y).ravel(), rcond=None)[0].reshape(N, N)
    res = cgls(A, y, maxiter=400, tol=1e-10)
    assert int(res.iterations) < 400
    assert float(res.residual) <= 1e-10
    assert np.linalg.norm(np.asarray(res.x) - expected) / np.linalg.norm(expected) < 1e-6


def test_sirt_converges_and_respects_nonneg(problem):
    A, x_true, y = problem
    few = sirt(A, y, maxiter=5)
    many = sirt(A, y, maxiter=200, nonneg=True)
    assert int(few.iterations) == 5 and int(many.iterations) == 200
    r_few = float(jnp.linalg.norm(A(few.x) - y))
    r_many = float(jnp.linalg.norm(A(many.x) - y))
    assert r_many < 0.5 * r_few
    assert float(jnp.min(many.x)) >= 0
    assert np.linalg.norm(np.asarray(many.x) - x_true) / np.linalg.norm(x_true) < 0.15
    stopped = sirt(A, y, maxiter=500, tol=1e-3)
    assert 5 < int(stopped.iterations) < 500


def test_pdhg_tv_without_regulariser_is_least_squares(problem):
    A, _, y = problem
    expected = cgls(A, y, maxiter=400, tol=1e-12).x
    res = pdhg_tv(A, y, lam=0.0, iterations=2000)
    assert int(res.iterations) == 2000
    # the objective reaches the least-squares optimum (the iterate itself converges slowly along
    # the operator's weak directions, as for any first-order method)
    best = float(jnp.sum((A(expected) - y) ** 2))
    ours = float(jnp.sum((A(res.x) - y) ** 2))
    assert ours <= best * 1.05 + 1e-9
    assert float(jnp.linalg.norm(res.x - expected) / jnp.linalg.norm(expected)) < 0.1


def test_pdhg_tv_improves_noisy_ct(problem):
    A, x_true, _ = problem
    rng = np.random.default_rng(1)
    y = A(jnp.asarray(x_true)) + 0.5 * jnp.asarray(rng.standard_normal(A.out_shape))
    ls = cgls(A, y, maxiter=50).x
    tv = jax.jit(lambda d: pdhg_tv(A, d, lam=2.0, iterations=500, nonneg=True))(y)
    err_ls = float(jnp.linalg.norm(ls - x_true))
    err_tv = float(jnp.linalg.norm(tv.x - x_true))
    assert err_tv < 0.6 * err_ls
    assert float(jnp.min(tv.x)) >= 0


def test_pdhg_tv_denoising_matches_skimage_chambolle():
    """A = identity: the minimiser of 1/2||x-y||² + lam TV(x) (Chambolle's problem)."""
    from skimage.restoration import denoise_tv_chambolle

    rng = np.random.default_rng(2)
    img = np.zeros((24, 24))
    img[6:18, 8:20] = 1.0
    noisy = img + 0.2 * rng.standard_normal(img.shape)
    lam = 0.15
    ref = denoise_tv_chambolle(noisy, weight=lam, eps=1e-8, max_num_iter=5000)
    ours = pdhg_tv(
        Identity((24, 24), jnp.float64),
        jnp.asarray(noisy),
        lam,
        iterations=4000,
        tol=1e-10,
        norm_a=1.0,
    )
    assert np.linalg.norm(np.asarray(ours.x) - ref) / np.linalg.norm(ref) < 2e-3
    # complex image with a constant phase: the same magnitude, the same phase
    phase = np.exp(0.7j)
    cplx = tv_recon(
        Identity((24, 24), jnp.complex128),
        jnp.asarray(noisy * phase),
        lam,
        iterations=4000,
        tol=1e-10,
        norm_a=1.0,
    )
    assert cplx.dtype == jnp.complex128
    assert np.linalg.norm(np.asarray(cplx) - ref * phase) / np.linalg.norm(ref) < 2e-3


def test_pdhg_complex64_vmap_and_errors():
    A = Identity((8, 8), jnp.complex64)
    ys = jnp.ones((3, 8, 8), jnp.complex64) * jnp.arange(3)[:, None, None]
    out = jax.jit(jax.vmap(lambda y: tv_recon(A, y, 0.1, iterations=20, norm_a=1.0)))(ys)
    assert out.dtype == jnp.complex64 and out.shape == (3, 8, 8)
    assert np.allclose(np.asarray(out[2]), 2.0, atol=1e-3)  # constants have no TV
    with pytest.raises(ValueError, match="nonneg"):
        pdhg_tv(A, ys[0], 0.1, nonneg=True)
    with pytest.raises(ValueError, match="shape"):
        pdhg_tv(A, jnp.ones((8, 7), jnp.complex64), 0.1)
