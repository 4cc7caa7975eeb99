"""ESPIRiT, CG-SENSE and FISTA against sigpy on small simulated data; simulation checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sigpy.mri

from operators.mri import random_mask, sense
from recon.coils import acs_width, espirit
from recon.metrics import psnr
from recon.simulate import phantom_kspace
from recon.solvers.cg import cg, cg_sense
from recon.solvers.fista import fista_l1, soft_threshold

N = 64


@pytest.fixture(scope="module")
def data():
    d = phantom_kspace((N, N), num_coils=6, noise=0.003, key=jax.random.PRNGKey(1))
    mask = random_mask(3, N, 0.25, 3)
    return d, mask


def _maps_similarity(a, b, region):
    ip = np.abs(np.sum(a * b.conj(), axis=0))
    na, nb = np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0)
    return ip[region] / (na[region] * nb[region])


def test_espirit_matches_sigpy_up_to_phase(data):
    d, _ = data
    ksp = d["kspace"]
    ref = sigpy.mri.app.EspiritCalib(ksp, calib_width=20, show_pbar=False).run()
    maps = np.asarray(espirit(ksp, (20, 20)))
    assert maps.dtype == np.complex64 and maps.shape == ksp.shape
    obj = d["target"] > 0.2 * d["target"].max()
    inside = obj & (np.linalg.norm(ref, axis=0) > 0) & (np.linalg.norm(maps, axis=0) > 0)
    assert inside.sum() > 0.9 * obj.sum()
    assert _maps_similarity(maps, ref, inside).min() >= 0.99
    # same crop region (eigenvalue threshold) up to a few boundary pixels
    assert np.mean((np.linalg.norm(maps, axis=0) > 0) != (np.linalg.norm(ref, axis=0) > 0)) < 0.01


def test_espirit_batched_equals_single_and_acs_from_mask(data):
    d, mask = data
    y = d["kspace"] * mask
    assert acs_width(mask) >= 16
    both = np.asarray(espirit(np.stack([y, y[:, ::-1]]), mask=mask))
    one = np.asarray(espirit(y, mask=mask))
    np.testing.assert_allclose(both[0], one, atol=1e-5)
    with pytest.raises(ValueError, match="fully sampled centre lines"):
        espirit(y, mask=np.eye(1, N, N // 2)[0])


def test_cg_solves_spd_system_and_reports_iterations():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((12, 12)) + 1j * rng.standard_normal((12, 12))
    a = m @ m.conj().T + np.eye(12)
    b = rng.standard_normal(12) + 1j * rng.standard_normal(12)
    res = cg(lambda v: jnp.asarray(a) @ v, jnp.asarray(b), tol=1e-10, maxiter=100)
    np.testing.assert_allclose(np.asarray(res.x), np.linalg.solve(a, b), rtol=1e-7)
    assert 1 <= int(res.iterations) <= 100 and float(res.residual) <= 1e-10
    # gradients flow through the implicit solve
    g = jax.grad(lambda s: jnp.real(jnp.vdot(b, cg(lambda v: jnp.asarray(a) @ v,
                                                      s * jnp.asarray(b), tol=1e-12,
                                                      maxiter=200).x)))(1.0)
    assert np.isclose(float(g), float(np.real(np.vdot(b, np.linalg.solve(a, b)))), rtol=1e-6)


def test_cg_sense_equals_sigpy_sense_recon(data):
    d, mask = data
    y = (d["kspace"] * mask).astype(np.complex64)
    maps = np.asarray(espirit(y, mask=mask))
    ref = sigpy.mri.app.SenseRecon(y, maps, lamda=0.01, weights=mask, max_iter=30,
                                   show_pbar=False).run()
    res = jax.jit(lambda A, y: cg_sense(A, y, lam=0.01, maxiter=30))(sense(maps, mask), y)
    assert res.x.dtype == jnp.complex64 and int(res.iterations) == 30
    np.testing.assert_allclose(np.asarray(res.x), ref, atol=2e-3 * np.abs(ref).max())


def test_fista_l1_close_to_sigpy_and_scale_invariant(data):
    d, mask = data
    y = (d["kspace"] * mask).astype(np.complex64)
    maps = np.asarray(espirit(y, mask=mask))
    A = sense(maps, mask)
    tgt = d["target"][None]
    run = jax.jit(lambda A, y: fista_l1(A, y, iterations=60))
    x = np.abs(np.asarray(run(A, y).x))
    ref = np.abs(sigpy.mri.app.L1WaveletRecon(y, maps, lamda=3e-4, weights=mask,
                                              max_iter=60, show_pbar=False).run())
    assert psnr(tgt, x[None]) > psnr(tgt, ref[None]) - 0.5
    # relative lambda: scaling the data scales the solution by the same factor
    x1000 = np.abs(np.asarray(run(A, y * np.float32(1000.0)).x))
    np.testing.assert_allclose(x1000 / 1000.0, x, atol=1e-4 * x.max())


def test_soft_threshold_complex():
    c = jnp.asarray([3 + 4j, 0.1j, 0.0], jnp.complex64)
    out = np.asarray(soft_threshold(c, 1.0))
    np.testing.assert_allclose(out, [(3 + 4j) * 4 / 5, 0, 0], atol=1e-6)
    assert soft_threshold(c, 1.0).dtype == jnp.complex64


def test_simulation_avoids_inverse_crime(data):
    """The simulated k-space is not the SENSE model of the target grid: the residual of the
    best target-grid fit with the *true* smooth maps stays well above the noise floor."""
    d, _ = data
    assert d["kspace"].dtype == np.complex64 and d["target"].dtype == np.float32
    full = np.ones(N, np.float32)
    maps = np.asarray(espirit(d["kspace_clean"], (24, 24)))
    A = sense(maps, full)
    x = cg_sense(A, jnp.asarray(d["kspace_clean"]), lam=0.0, maxiter=40).x
    resid = np.linalg.norm(np.asarray(A(x)) - d["kspace_clean"]) / np.linalg.norm(d["kspace_clean"])
    assert resid > 1e-3


def test_solvers_work_with_nufft_sense(data):
    """CG-SENSE and FISTA take any operator: radial NUFFT SENSE (a solver check, noise-free)."""
    from operators.mri import nufft_sense, radial

    d, _ = data
    maps = np.asarray(espirit(d["kspace"], (24, 24)))
    coords = radial(32, N, (N, N))
    A = nufft_sense(jnp.asarray(maps), coords)
    x_true = jnp.asarray(np.sum(np.conj(maps) * np.fft.fftshift(np.fft.ifft2(
        np.fft.ifftshift(d["kspace_clean"], axes=(-2, -1)), norm="ortho"), axes=(-2, -1)), 0),
        jnp.complex64)
    y = A(x_true)
    tgt = np.abs(np.asarray(x_true))[None]
    adj = np.abs(np.asarray(A.H(y)))
    adj = adj * (np.vdot(adj, tgt[0]).real / np.vdot(adj, adj).real)
    x_cg = cg_sense(A, y, lam=1e-3, maxiter=15)
    x_l1 = fista_l1(A, y, iterations=15)
    assert x_cg.x.dtype == jnp.complex64 and int(x_cg.iterations) == 15
    assert psnr(tgt, np.abs(np.asarray(x_cg.x))[None]) > psnr(tgt, adj[None]) + 5
    assert psnr(tgt, np.abs(np.asarray(x_l1.x))[None]) > psnr(tgt, adj[None]) + 5


def test_volume_batches_do_not_change_the_result():
    from recon.classical_mri import reconstruct

    ks = np.stack([phantom_kspace((32, 32), 4, key=jax.random.PRNGKey(i))["kspace"]
                   for i in range(3)])
    m = random_mask(0, 32, 0.3, 2)
    a = reconstruct(ks * m, m, "cg-sense", batch=2, iters=5)
    b = reconstruct(ks * m, m, "cg-sense", batch=3, iters=5)
    assert a.shape == (3, 32, 32) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-6 * a.max())


def test_odd_matrix_sizes_work_end_to_end():
    """Odd sizes: padded wavelet, odd-length centring, ESPIRiT DFT evaluation."""
    from recon.classical_mri import reconstruct

    d = phantom_kspace((45, 39), 4, key=jax.random.PRNGKey(0))
    m = random_mask(0, 39, 0.3, 2)
    zf = reconstruct((d["kspace"] * m)[None], m, "zero-filled")
    x = reconstruct((d["kspace"] * m)[None], m, "l1-wavelet", iters=30)
    assert x.shape == (1, 45, 39)
    assert psnr(d["target"][None], x) > psnr(d["target"][None], zf) + 3


def test_espirit_narrow_acs_keeps_the_object_inside_the_maps():
    """A 9-line ACS block (8x masks at 4 % centre) narrows the kernel to 5 so that the 0.95
    eigenvalue crop does not cut into the object (a 6-wide kernel loses part of it)."""
    from recon.coils.espirit import default_kernel_width

    assert [default_kernel_width(a) for a in (4, 9, 10, 18)] == [3, 5, 6, 6]
    n = 96
    d = phantom_kspace((n, n), num_coils=8, noise=0.003, key=jax.random.PRNGKey(1))
    mask = np.zeros(n, np.float32)
    mask[::8] = 1
    mask[n // 2 - 4 : n // 2 + 5] = 1
    assert acs_width(mask) == 9
    obj = d["target"] > 0.2 * d["target"].max()
    covered = {kw: np.mean(np.linalg.norm(np.asarray(
        espirit(d["kspace"] * mask, mask=mask, kernel_width=kw)), axis=0)[obj] > 0)
        for kw in (None, 6)}
    assert covered[None] == 1.0, covered
    assert covered[6] < 1.0, covered
