"""Cartesian SENSE and centred FFT: golden values against sigpy, pruning, recompilation, bad input.

sigpy applies its ``weights`` as ``sqrt(weights)``, ours applies the mask once, so
``sense(maps, m) == sigpy.mri.linop.Sense(maps, weights=m**2)`` (equal for binary masks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sigpy
import sigpy.mri

import operators.mri as om
from operators.fft import fftc, ifftc

RNG = np.random.default_rng(11)


def crandn(*shape, dtype=np.complex64):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


def rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm((a - b).ravel()) / np.linalg.norm(b.ravel()))


def _masks(image_shape):
    """None, a fastMRI line mask, a 2D (or plane) binary mask, non-binary line weights."""
    width = image_shape[-1]
    lines = om.random_mask(5, width, 0.1, 3)
    plane = (RNG.random(image_shape[-2:]) < 0.4).astype(np.float32)
    weights = (0.2 + RNG.random(width)).astype(np.float32)
    return {"full": None, "lines": lines, "plane": plane, "weights": weights}


@pytest.mark.parametrize("image_shape", [(32, 24), (17, 15), (8, 12, 10)], ids=str)
@pytest.mark.parametrize("kind", ["full", "lines", "plane", "weights"])
def test_sense_matches_sigpy(image_shape, kind):
    coils = 4 if len(image_shape) == 2 else 3
    maps = crandn(coils, *image_shape)
    x = crandn(*image_shape)
    mask = _masks(image_shape)[kind]
    A = om.sense(maps, mask)
    weights = None
    if mask is not None:
        weights = np.broadcast_to(mask**2, maps.shape).astype(np.float32)
    ref = sigpy.mri.linop.Sense(maps, weights=weights)
    y = crandn(*maps.shape)
    Ax, AHy = A(x), A.H(y)
    assert Ax.dtype == jnp.complex64 and AHy.dtype == jnp.complex64
    assert rel(Ax, ref(x)) <= 1e-5
    assert rel(AHy, ref.H(y)) <= 1e-5
    assert rel(A.N(x), ref.H(ref(x))) <= 1e-5
    assert not A.pruned
    if kind == "lines":
        P = om.sense(maps, mask, prune=True)
        assert P.pruned
        assert rel(P(x), ref(x)) <= 1e-5 and rel(P.H(y), ref.H(y)) <= 1e-5
    if mask is not None:  # zeros at unsampled positions (fastMRI convention)
        assert np.all(np.asarray(Ax)[np.broadcast_to(mask, maps.shape) == 0] == 0)


@pytest.mark.parametrize("shape", [(3, 16, 20), (3, 15, 17), (6, 8, 9)], ids=str)
def test_fft_op_matches_sigpy_and_fftc(shape):
    x = crandn(*shape)
    F = om.fft_op(shape, axes=(-2, -1))
    assert rel(F(x), sigpy.fft(x, axes=(-2, -1), center=True)) <= 1e-6
    assert rel(F(x), fftc(jnp.asarray(x), axes=(-2, -1))) <= 1e-6
    assert rel(F.H(x), ifftc(jnp.asarray(x), axes=(-2, -1))) <= 1e-6
    assert F(x).dtype == jnp.complex64


def test_pruned_equals_unpruned_and_unfused():
    maps = crandn(8, 32, 32)
    mask = om.equispaced_mask(0, 32, 0.125, 4)
    x, y = crandn(32, 32), crandn(8, 32, 32)
    pruned = om.sense(maps, mask, prune=True)
    adjoint_only = om.sense(maps, mask, prune="adjoint")
    dense = om.sense(maps, mask, prune=False)
    textbook = om.sense(maps, mask, fused=False)
    assert pruned.pruned and pruned.prune_forward and pruned.prune_adjoint
    assert adjoint_only.pruned and not adjoint_only.prune_forward
    assert not dense.pruned and not om.sense(maps, mask).pruned  # dense by default
    assert pruned.num_lines == int(mask.sum())
    for other in (adjoint_only, dense, textbook):
        assert rel(pruned(x), other(x)) <= 1e-6
        assert rel(pruned.H(y), other.H(y)) <= 1e-6
        assert rel(pruned.N(x), other.N(x)) <= 1e-6
    with pytest.raises(ValueError, match="prune"):
        om.sense(maps, mask, prune="sometimes")


@pytest.mark.parametrize("prune", [True, False])
def test_coil_loop_equals_vectorised(prune):
    maps = crandn(3, 6, 8, 10)
    mask = om.random_mask(1, 10, 0.2, 2)
    plane = (RNG.random((3, 1, 8, 10)) < 0.5).astype(np.float32)  # varies per coil
    x, y = crandn(6, 8, 10), crandn(3, 6, 8, 10)
    for m in (mask, plane):
        loop = om.sense(maps, m, prune=prune, coil_loop=True)
        vec = om.sense(maps, m, prune=prune)
        assert loop.coil_loop and not vec.coil_loop
        assert rel(loop(x), vec(x)) <= 1e-6
        assert rel(loop.H(y), vec.H(y)) <= 1e-6
        assert rel(loop.N(x), vec.N(x)) <= 1e-6
        assert rel(loop.N(x), loop.H(loop(x))) <= 1e-5


def test_new_mask_with_same_count_does_not_recompile():
    maps = crandn(4, 16, 24)
    x = crandn(16, 24)
    base = om.random_mask(3, 24, 0.125, 3)
    count = int(base.sum())
    other = np.zeros_like(base)
    other[np.random.default_rng(1).permutation(24)[:count]] = 1.0  # same K, other lines
    assert not np.array_equal(base, other)
    fewer = base.copy()
    fewer[np.flatnonzero(base)[0]] = 0.0  # K - 1 lines

    traces = []

    @jax.jit
    def normal_eq(A, v):
        traces.append(1)
        return A.H(A(v))

    A1, A2, A3 = (om.sense(maps, m, prune=True) for m in (base, other, fewer))
    r1, r2 = normal_eq(A1, x), normal_eq(A2, x)
    assert len(traces) == 1, "a new mask with the same number of lines retraced"
    assert rel(r2, om.sense(maps, other, prune=False).N(x)) <= 1e-5
    assert rel(r1, r2) > 1e-2  # the new mask was really used
    normal_eq(A3, x)
    assert len(traces) == 2  # a different count is a new static shape


def test_traced_mask_with_static_count():
    maps = crandn(2, 16, 16)
    mask = om.random_mask(4, 16, 0.25, 2)
    x = crandn(16, 16)
    count = int(mask.sum())

    @jax.jit
    def forward(m, v):
        A = om.sense(maps, m, num_lines=count, prune=True)
        assert A.pruned
        return A(v), A.H(A(v))

    y, z = forward(jnp.asarray(mask), x)
    A = om.sense(maps, mask, prune=False)
    assert rel(y, A(x)) <= 1e-6 and rel(z, A.H(A(x))) <= 1e-6


def test_vmap_over_operators_with_different_masks():
    maps = crandn(2, 16, 16)
    m1 = om.equispaced_mask(0, 16, 0.0, 2, offset=0, fraction_matching=False)
    m2 = om.equispaced_mask(0, 16, 0.0, 2, offset=1, fraction_matching=False)
    ops = [om.sense(maps, m, prune=True) for m in (m1, m2)]
    assert ops[0].num_lines == ops[1].num_lines == 8  # same static count: stackable
    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), *ops)
    x = crandn(2, 16, 16)
    out = jax.vmap(lambda A, v: A(v))(stacked, x)
    for i in range(2):
        assert rel(out[i], ops[i](x[i])) <= 1e-6


def test_single_coil_and_3d_shapes():
    A = om.sense(np.ones((1, 16, 16), np.complex64), om.random_mask(0, 16, 0.25, 2))
    assert A.in_shape == (16, 16) and A.out_shape == (1, 16, 16)
    x = crandn(16, 16)
    assert rel(A(x)[0], om.random_mask(0, 16, 0.25, 2) * fftc(jnp.asarray(x))) <= 1e-6
    B = om.sense(crandn(2, 4, 6, 8))
    assert B.in_shape == (4, 6, 8) and B.out_shape == (2, 4, 6, 8)


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"maps": np.ones((16, 16), np.complex64)}, ["(16, 16)", "(C, H, W)"]),
        ({"maps": np.ones((1, 2, 3, 4, 5), np.complex64)}, ["(1, 2, 3, 4, 5)"]),
        ({"maps": np.ones((2, 16, 16), np.int32)}, ["int32"]),
        ({"image_shape": (16, 17)}, ["(2, 16, 16)", "(16, 17)"]),
        ({"mask": np.ones(17, np.float32)}, ["(17,)", "(2, 16, 16)"]),
        ({"mask": np.ones((3, 16, 16), np.float32)}, ["(3, 16, 16)", "(2, 16, 16)"]),
        ({"mask": np.ones((16,), np.complex64)}, ["complex64"]),
    ],
)
def test_bad_input_raises_clear_value_error(kwargs, fragments):
    args = {"maps": np.ones((2, 16, 16), np.complex64), "mask": None, **kwargs}
    maps, mask = args.pop("maps"), args.pop("mask")
    with pytest.raises(ValueError) as info:
        om.sense(maps, mask, **args)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_wrong_image_shape_at_call_names_both_shapes():
    A = om.sense(np.ones((2, 16, 16), np.complex64), om.random_mask(0, 16, 0.25, 2))
    with pytest.raises(ValueError, match=r"\(16, 15\).*\(16, 16\)"):
        A(np.ones((16, 15), np.complex64))
    with pytest.raises(ValueError, match=r"\(16, 16\).*\(2, 16, 16\)"):
        A.H(np.ones((16, 16), np.complex64))


def test_mask_dtypes_and_double_precision():
    maps = crandn(2, 16, 16, dtype=np.complex128)
    lines = om.random_mask(0, 16, 0.25, 2)
    x = crandn(16, 16, dtype=np.complex128)
    ref = om.sense(maps, lines)
    assert ref.in_dtype == np.complex128 and ref(x).dtype == np.complex128
    for mask in (lines.astype(bool), lines.astype(np.int32), jnp.asarray(lines)):
        A = om.sense(maps, mask, prune=True)
        assert A.pruned
        assert rel(A(x), ref(x)) <= 1e-12
    S = sigpy.mri.linop.Sense(maps, weights=np.broadcast_to(lines, maps.shape))
    assert rel(ref(x), S(x)) <= 1e-12
