"""NUFFT golden values and behaviour: exact NUDFT, sigpy, Toeplitz normal, density compensation,
trajectories and bad input. Sizes are small so the file runs in seconds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sigpy

import operators.mri as mri
from operators.mri.nufft_jax import JaxNUFFT

RNG = np.random.default_rng(11)


def nudft_matrix(coords: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Exact sigpy-convention DFT matrix (float64): ``E[m, n] = exp(-2 pi i k_m.(n - N//2)/N)``."""
    k = np.asarray(coords, np.float64).reshape(-1, len(shape))
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    pairs = enumerate(zip(grids, shape, strict=True))
    phase = sum(np.outer(k[:, i], g.ravel()) / n for i, (g, n) in pairs)
    return np.exp(-2j * np.pi * phase) / np.sqrt(np.prod(shape))


def rel(a, b) -> float:
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def cplx(shape, dtype=np.complex64):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


GEOMETRIES = {
    "2d-16x12": ((16, 12), RNG.uniform(-0.5, 0.5, (300, 2)) * np.array([16, 12])),
    "2d-odd-9x7": ((9, 7), RNG.uniform(-0.5, 0.5, (200, 2)) * np.array([9, 7])),
    "3d-8^3": ((8, 8, 8), RNG.uniform(-0.5, 0.5, (400, 3)) * 8.0),
}


@pytest.mark.parametrize("backend", ["jax", "finufft"])
@pytest.mark.parametrize("eps", [1e-3, 1e-5])
@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_matches_exact_nudft(geometry, eps, backend):
    shape, coords = GEOMETRIES[geometry]
    E = nudft_matrix(coords, shape)
    A = mri.nufft(coords, shape, eps=eps, backend=backend, toeplitz=False)
    x, y = cplx(shape), cplx(coords.shape[:-1])
    Ax, AHy = A(x), A.H(y)
    assert Ax.dtype == jnp.complex64 and AHy.dtype == jnp.complex64
    err_fwd = rel(Ax, E @ x.astype(np.complex128).ravel())
    err_adj = rel(AHy, E.conj().T @ y.astype(np.complex128))
    assert err_fwd <= eps, f"forward relative error {err_fwd:.2e} > eps {eps:.0e}"
    assert err_adj <= eps, f"adjoint relative error {err_adj:.2e} > eps {eps:.0e}"


def test_complex128_reaches_tight_eps():
    shape, coords = GEOMETRIES["2d-16x12"]
    E = nudft_matrix(coords, shape)
    x = cplx(shape, np.complex128)
    for backend in ("jax", "finufft"):
        A = mri.nufft(coords, shape, eps=1e-9, backend=backend, dtype=np.complex128, toeplitz=False)
        out = A(x)
        assert out.dtype == jnp.complex128
        assert rel(out, E @ x.ravel()) <= 1e-9


@pytest.mark.parametrize("backend", ["jax", "finufft"])
def test_agrees_with_sigpy(backend):
    shape = (16, 16)
    coords = mri.radial(24, 16, shape, golden=True)
    x = cplx(shape)
    y = cplx(coords.shape[:-1])
    A = mri.nufft(coords, shape, eps=1e-5, backend=backend, toeplitz=False)
    # sigpy with a wide kernel is accurate to ~1e-7: tight agreement
    ref = sigpy.nufft(x.astype(np.complex128), coords, oversamp=2, width=8)
    ref_adj = sigpy.nufft_adjoint(y.astype(np.complex128), coords, shape, oversamp=2, width=8)
    assert rel(A(x), ref) <= 1e-4
    assert rel(A.H(y), ref_adj) <= 1e-4
    # sigpy's defaults (oversampling 1.25, width 4) are accurate to about 1e-2
    assert rel(A(x), sigpy.nufft(x, coords)) <= 3e-2
    assert rel(A.H(y), sigpy.nufft_adjoint(y, coords, shape)) <= 3e-2


@pytest.mark.parametrize("backend", ["jax", "finufft"])
@pytest.mark.parametrize(
    ("shape", "coords"),
    [((24, 20), mri.radial(40, 12, (24, 20))), ((8, 8, 8), mri.radial_3d(40, 8, (8, 8, 8)))],
    ids=["2d", "3d"],
)
def test_toeplitz_normal_matches_forward_then_adjoint(backend, shape, coords):
    A = mri.nufft(coords, shape, eps=1e-4, backend=backend)
    assert isinstance(A.N, mri.ToeplitzNormal)
    x = cplx(shape)
    assert A.N(x).dtype == jnp.complex64
    assert rel(A.N(x), A.H(A(x))) <= 1e-3
    w = (1.0 + np.linalg.norm(coords, axis=-1)).astype(np.float32)
    T = mri.toeplitz_normal(A, w)
    assert rel(T(x), A.H(w * A(x))) <= 1e-3


def test_nufft_sense_is_coilwise_nufft():
    shape = (12, 12)
    coords = mri.golden_angle_radial(10, 12, shape).reshape(-1, 2)
    maps = cplx((3, *shape))
    S = mri.nufft_sense(maps, coords, backend="jax")
    A = mri.nufft(coords, shape, backend="jax", toeplitz=False)
    x = cplx(shape)
    out = S(x)
    assert out.shape == (3, coords.shape[0]) and out.dtype == jnp.complex64
    expected = jnp.stack([A(maps[c] * x) for c in range(3)])
    assert rel(out, expected) <= 1e-6
    assert rel(S.N(x), S.H(S(x))) <= 1e-3


def test_batched_operator_and_pytree_reuse():
    """A batch of images goes through one operator; a new trajectory of the same shape is a new
    leaf, not a new compilation."""
    shape = (10, 10)
    c1, c2 = mri.radial(8, 10, shape), mri.golden_angle_radial(8, 10, shape)
    A1 = mri.nufft(c1, shape, backend="jax", toeplitz=False, batch_shape=(2,))
    A2 = mri.nufft(c2, shape, backend="jax", toeplitz=False, batch_shape=(2,))
    x = cplx((2, *shape))
    single = mri.nufft(c2, shape, backend="jax", toeplitz=False)
    assert rel(A2(x)[1], single(x[1])) <= 1e-6
    traces = []

    @jax.jit
    def apply(op, v):
        traces.append(1)
        return op(v)

    apply(A1, x)
    apply(A2, x)
    assert len(traces) == 1


def test_default_backend_is_finufft_on_cpu():
    assert mri.default_backend() == "finufft"
    A = mri.nufft(mri.radial(4, 4, (8, 8)), (8, 8), toeplitz=False)
    assert A.name == "NUFFT[finufft]"


def test_kernel_width_grows_with_accuracy():
    coords = RNG.uniform(-4, 4, (20, 2))
    widths = [JaxNUFFT.build(coords, (8, 8), e).width for e in (1e-2, 1e-3, 1e-5, 1e-7)]
    assert widths == sorted(widths) and widths[0] < widths[-1]


# -- density compensation -------------------------------------------------------------------------


def test_pipe_menon_radial_weights_follow_ramp():
    n, spokes, samples = 32, 100, 32
    coords = mri.radial(spokes, samples, (n, n))
    w = mri.pipe_menon_dcf(coords, (n, n))
    assert w.shape == coords.shape[:-1] and w.dtype == np.float32
    r = np.linalg.norm(coords, axis=-1)
    ramp = 2 * np.pi * r * (n / 2 / samples) / spokes  # area per sample of centre-out spokes
    inner = slice(3, samples - 4)
    assert rel(w[:, inner], ramp[:, inner]) <= 0.03
    assert np.corrcoef(w[:, inner].ravel(), r[:, inner].ravel())[0, 1] > 0.99


def test_pipe_menon_weights_give_flat_image():
    n = 32
    coords = mri.radial(100, 32, (n, n))
    w = mri.pipe_menon_dcf(coords, (n, n))
    A = mri.nufft(coords, (n, n), backend="jax", toeplitz=False)
    yy, xx = np.mgrid[:n, :n] - n // 2
    disk = (xx**2 + yy**2 < 10**2).astype(np.complex64)
    rec = np.asarray(A.H(w * A(disk)))
    centre = np.abs(rec[n // 2 - 5 : n // 2 + 5, n // 2 - 5 : n // 2 + 5])
    assert abs(centre.mean() - 1.0) <= 0.02 and centre.std() <= 0.03
    blob = np.exp(-(xx**2 + yy**2) / 32.0).astype(np.complex64)
    assert rel(A.H(w * A(blob)), blob) <= 0.03


def test_pipe_menon_cartesian_is_one():
    n = 16
    g = np.stack(np.meshgrid(np.arange(n) - n // 2, np.arange(n) - n // 2, indexing="ij"), -1)
    w = mri.pipe_menon_dcf(g.astype(np.float64), (n, n))
    interior = w[3:-3, 3:-3]
    assert np.allclose(interior, 1.0, atol=0.02)


# -- trajectories -----------------------------------------------------------------------------


def test_trajectories_in_range_and_shaped():
    r = mri.radial(16, 32, (64, 64))
    g = mri.golden_angle_radial(16, 32, (64, 64))
    k3 = mri.radial_3d(50, 16, (32, 32, 32))
    s = mri.spiral(0.24, 64, 8)
    for c, n in ((r, (64, 64)), (g, (64, 64)), (k3, (32, 32, 32)), (s, (64, 64))):
        assert c.shape[-1] == len(n)
        assert np.all(c >= -np.asarray(n) / 2) and np.all(c < np.asarray(n) / 2)
        mri.nufft(c, n, backend="jax", toeplitz=False)  # accepted as is
    assert r.shape == (16, 32, 2) and k3.shape == (50, 16, 3)
    assert np.isclose(np.abs(s).max(), 32.0, atol=1e-6)  # spiral reaches the k-space edge
    angles = np.arctan2(g[:, -1, 0], g[:, -1, 1])
    step = np.mod(np.diff(angles), 2 * np.pi)
    assert np.allclose(step, np.pi * (3 - np.sqrt(5)), atol=1e-6)


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("coords", "shape"),
    [
        (np.zeros((10, 3)), (8, 8)),  # wrong last axis
        (np.zeros(10), (8, 8)),  # no dimension axis
        (np.full((5, 2), 4.0), (8, 8)),  # +N/2 is out of range
        (np.full((5, 2), -4.5), (8, 8)),
        (np.full((5, 2), np.nan), (8, 8)),
        (np.zeros((5, 2), complex), (8, 8)),
        (np.zeros((5, 4)), (2, 2, 2, 2)),  # 4-D
    ],
)
def test_bad_coords_raise_one_clear_error(coords, shape):
    with pytest.raises(ValueError) as info:
        mri.nufft(coords, shape, backend="jax")
    msg = str(info.value)
    assert str(tuple(coords.shape)).replace(",)", ")") in msg
    assert str(tuple(shape)) in msg


def test_other_bad_arguments():
    coords = mri.radial(4, 4, (8, 8))
    with pytest.raises(ValueError, match="backend"):
        mri.nufft(coords, (8, 8), backend="cuda")
    with pytest.raises(ValueError, match="eps"):
        mri.nufft(coords, (8, 8), eps=0.0)
    with pytest.raises(ValueError, match="complex64 or complex128"):
        mri.nufft(coords, (8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match=r"\(3, 8, 8\)"):
        mri.nufft_sense(cplx((3, 8, 8)), mri.radial_3d(4, 4, (8, 8, 8)))
    with pytest.raises(ValueError, match="concrete"):
        jax.jit(lambda c: mri.nufft(c, (8, 8)))(jnp.asarray(coords))
    A = mri.nufft(coords, (8, 8), backend="jax", toeplitz=False)
    with pytest.raises(ValueError, match=r"\(8, 8\)"):
        A(jnp.zeros((8, 9), jnp.complex64))
