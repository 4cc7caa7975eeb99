"""Core algebra cases: pointwise multiply, function operators, composition, sums, scaling."""

import jax.numpy as jnp
import numpy as np

from operators.fft import fftc
from operators.linop import FunctionOperator, Identity, Multiply
from tests.operators.registry import COMPLEX, REAL, register

RNG = np.random.default_rng(0)
WEIGHTS = RNG.standard_normal((3, 6, 5)) + 1j * RNG.standard_normal((3, 6, 5))


@register("multiply-broadcast", dtypes=COMPLEX)
def _(dtype):
    return Multiply(jnp.asarray(WEIGHTS, dtype), (6, 5), dtype)


@register("function-fft", dtypes=COMPLEX)
def _(dtype):
    return FunctionOperator(lambda x: fftc(x, axes=(-2, -1)), (6, 5), dtype)


@register("function-real-diff", dtypes=REAL)
def _(dtype):
    return FunctionOperator(lambda x: jnp.diff(x, axis=0) * 2.0, (7, 4), dtype)


@register("algebra-composite", dtypes=COMPLEX)
def _(dtype):
    S = Multiply(jnp.asarray(WEIGHTS, dtype), (6, 5), dtype)
    F = FunctionOperator(lambda y: fftc(y, axes=(-2, -1)), (3, 6, 5), dtype)
    B = Multiply(jnp.asarray(WEIGHTS[0], dtype), (6, 5), dtype)
    return (F @ S) @ (0.5j * B + Identity((6, 5), dtype) - B)
