"""Linear-operator algebra: immutable pytrees with exact Hermitian adjoints.

A :class:`LinearOperator` maps arrays of ``in_shape``/``in_dtype`` to arrays of
``out_shape``/``out_dtype``. Arrays it carries (coil maps, masks, trajectories, angles) are
pytree leaves; shapes and options are static fields. Hence a new mask of the same shape does not
recompile a jitted function that takes the operator as an argument, and operators can be vmapped.

Algebra (as in sigpy.linop):

- ``A(x)`` applies the operator, ``A.H`` is its Hermitian adjoint (``A.H.H is A``),
- ``A.N`` is the normal operator ``A.H @ A`` (a subclass may return a cheaper equivalent),
- ``A @ B``, ``A + B``, ``A - B``, ``c * A`` and ``-A`` compose lazily.

Leaf operators implement ``_apply`` and ``_adjoint``. :class:`FunctionOperator` wraps any linear
function and obtains its exact adjoint as ``conj ∘ jax.linear_transpose ∘ conj``:
for ``A x = f(x)`` linear over the complex field, ``A^H y = conj(A^T conj(y))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

Shape = tuple[int, ...]


def _shape_str(shape: Shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


class LinearOperator(struct.PyTreeNode):
    """Base class of all linear operators.

    Subclasses define the static properties ``in_shape``, ``out_shape``, ``in_dtype``,
    ``out_dtype`` (as fields or properties) and the methods ``_apply(x)`` and ``_adjoint(y)``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__repr__ = LinearOperator._describe  # dataclass reprs would print every array

    # -- interface to implement ---------------------------------------------------------------
    @property
    def in_shape(self) -> Shape:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def out_shape(self) -> Shape:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def in_dtype(self) -> np.dtype:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def out_dtype(self) -> np.dtype:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self, x: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def _adjoint(self, y: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public API -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[Shape, Shape]:
        """``(out_shape, in_shape)``, the shape of the matrix this operator represents."""
        return (self.out_shape, self.in_shape)

    @property
    def name(self) -> str:
        return type(self).__name__

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if tuple(x.shape) != tuple(self.in_shape):
            raise ValueError(
                f"{self.name}: input has shape {_shape_str(x.shape)}, "
                f"expected {_shape_str(self.in_shape)}"
            )
        return self._apply(x.astype(self.in_dtype))

    @property
    def H(self) -> LinearOperator:
        """The Hermitian adjoint ``A^H``."""
        return Adjoint(self)

    @property
    def N(self) -> LinearOperator:
        """The normal operator ``A^H A``; subclasses may return a cheaper equivalent form."""
        return Compose(self.H, self)

    def __matmul__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Compose(self, other)

    def __add__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Sum(self, other)

    def __sub__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Sum(self, Scale(other, -1.0))

    def __mul__(self, scalar: Any) -> LinearOperator:
        if isinstance(scalar, LinearOperator):
            return NotImplemented
        return Scale(self, scalar)

    __rmul__ = __mul__

    def __neg__(self) -> LinearOperator:
        return Scale(self, -1.0)

    def _describe(self) -> str:
        return (
            f"<{self.name}: {_shape_str(self.in_shape)} {np.dtype(self.in_dtype).name} -> "
            f"{_shape_str(self.out_shape)} {np.dtype(self.out_dtype).name}>"
        )


class Adjoint(LinearOperator):
    """Hermitian adjoint of ``op``; ``Adjoint(op).H`` returns ``op`` itself."""

    op: LinearOperator

    @property
    def in_shape(self) -> Shape:
        return self.op.out_shape

    @property
    def out_shape(self) -> Shape:
        return self.op.in_shape

    @property
    def in_dtype(self) -> np.dtype:
        return self.op.out_dtype

    @property
    def out_dtype(self) -> np.dtype:
        return self.op.in_dtype

    @property
    def name(self) -> str:
        return f"{self.op.name}.H"

    @property
    def H(self) -> LinearOperator:
        return self.op

    @property
    def N(self) -> LinearOperator:
        return Compose(self.op, self)

    def _apply(self, x: jax.Array) -> jax.Array:
        return self.op._adjoint(x)

    def _adjoint(self, y: jax.Array) -> jax.Array:
        return self.op._apply(y)


class Compose(LinearOperator):
    """``outer @ inner``: ``x -> outer(inner(x))``."""

    outer: LinearOperator
    inner: LinearOperator

    def __post_init__(self) -> None:
        if tuple(self.outer.in_shape) != tuple(self.inner.out_shape):
            raise ValueError(
                f"cannot compose {self.outer.name} @ {self.inner.name}: the left operator takes "
                f"{_shape_str(self.outer.in_shape)} but the right one returns "
                f"{_shape_str(self.inner.out_shape)}"
            )

    @property
    def in_shape(self) -> Shape:
        return self.inner.in_shape

    @property
    def out_shape(self) -> Shape:
        return self.outer.out_shape

    @property
    def in_dtype(self) -> np.dtype:
        return self.inner.in_dtype

    @property
    def out_dtype(self) -> np.dtype:
        return self.outer.out_dtype

    @property
    def name(self) -> str:
        return f"({self.outer.name} @ {self.inner.name})"

    def _apply(self, x: jax.Array) -> jax.Array:
        return self.outer._apply(self.inner._apply(x).astype(self.outer.in_dtype))

    def _adjoint(self, y: jax.Array) -> jax.Array:
        return self.inner._adjoint(self.outer._adjoint(y).astype(self.inner.out_dtype))


class Sum(LinearOperator):
    """``left + right``."""

    left: LinearOperator
    right: LinearOperator

    def __post_init__(self) -> None:
        if self.left.shape != self.right.shape:
            raise ValueError(
                f"cannot add {self.left.name} and {self.right.name}: shapes "
                f"{self.left.shape} and {self.right.shape} differ"
            )

    @property
    def in_shape(self) -> Shape:
        return self.left.in_shape

    @property
    def out_shape(self) -> Shape:
        return self.left.out_shape

    @property
    def in_dtype(self) -> np.dtype:
        return self.left.in_dtype

    @property
    def out_dtype(self) -> np.dtype:
        return jnp.result_type(self.left.out_dtype, self.right.out_dtype)

    @property
    def name(self) -> str:
        return f"({self.left.name} + {self.right.name})"

    def _apply(self, x: jax.Array) -> jax.Array:
        return (self.left._apply(x) + self.right._apply(x)).astype(self.out_dtype)

    def _adjoint(self, y: jax.Array) -> jax.Array:
        return (self.left._adjoint(y) + self.right._adjoint(y)).astype(self.in_dtype)


class Scale(LinearOperator):
    """``scalar * op``; the scalar is a leaf, so it may be traced (e.g. a learned weight)."""

    op: LinearOperator
    scalar: Any

    @property
    def in_shape(self) -> Shape:
        return self.op.in_shape

    @property
    def out_shape(self) -> Shape:
        return self.op.out_shape

    @property
    def in_dtype(self) -> np.dtype:
        return self.op.in_dtype

    @property
    def out_dtype(self) -> np.dtype:
        return self.op.out_dtype

    @property
    def name(self) -> str:
        return f"c*{self.op.name}"

    def _apply(self, x: jax.Array) -> jax.Array:
        return (self.scalar * self.op._apply(x)).astype(self.out_dtype)

    def _adjoint(self, y: jax.Array) -> jax.Array:
        return (jnp.conj(self.scalar) * self.op._adjoint(y)).astype(self.in_dtype)


class Identity(LinearOperator):
    """The identity on arrays of ``shape`` and ``dtype``."""

    shape_: Shape = struct.field(pytree_node=False)
    dtype: Any = struct.field(pytree_node=False, default=jnp.complex64)

    @property
    def in_shape(self) -> Shape:
        return tuple(self.shape_)

    out_shape = in_shape

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    out_dtype = in_dtype

    @property
    def H(self) -> LinearOperator:
        return self

    @property
    def N(self) -> LinearOperator:
        return self

    def _apply(self, x: jax.Array) -> jax.Array:
        return x

    _adjoint = _apply


class Multiply(LinearOperator):
    """Pointwise multiplication by ``weights`` broadcast against ``in_shape``.

    ``out_shape = broadcast(in_shape, weights.shape)``; the adjoint multiplies by
    ``conj(weights)`` and sums over the broadcast axes (so coil sensitivities ``(C, H, W)``
    acting on an image ``(H, W)`` are one ``Multiply``).
    """

    weights: jax.Array
    in_shape_: Shape = struct.field(pytree_node=False)
    dtype: Any = struct.field(pytree_node=False, default=jnp.complex64)

    @property
    def in_shape(self) -> Shape:
        return tuple(self.in_shape_)

    @property
    def out_shape(self) -> Shape:
        return tuple(np.broadcast_shapes(self.in_shape, self.weights.shape))

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    out_dtype = in_dtype

    def _apply(self, x: jax.Array) -> jax.Array:
        return (self.weights * x).astype(self.out_dtype)

    def _adjoint(self, y: jax.Array) -> jax.Array:
        z = jnp.conj(self.weights) * y
        extra = z.ndim - len(self.in_shape)
        axes = tuple(range(extra)) + tuple(
            extra + i
            for i, (n_in, n_z) in enumerate(zip(self.in_shape, z.shape[extra:], strict=True))
            if n_in == 1 and n_z != 1
        )
        if axes:
            z = jnp.sum(z, axis=axes, keepdims=False)
            z = z.reshape(self.in_shape)
        return z.astype(self.in_dtype)


class FunctionOperator(LinearOperator):
    """A linear operator given by a Python function ``fn`` (closed over its constants).

    The adjoint is exact: ``A^H y = conj(T(conj(y)))`` with ``T = jax.linear_transpose(fn)``,
    which holds for any complex-linear ``fn`` (and reduces to the transpose for real ones).
    ``fn`` is a static field: two FunctionOperators with different functions are different types
    to ``jit``. Prefer a dedicated leaf operator where the array data should be a leaf.
    """

    fn: Callable[[jax.Array], jax.Array] = struct.field(pytree_node=False)
    in_shape_: Shape = struct.field(pytree_node=False)
    dtype: Any = struct.field(pytree_node=False, default=jnp.complex64)
    adjoint_fn: Callable[[jax.Array], jax.Array] | None = struct.field(
        pytree_node=False, default=None
    )

    @property
    def in_shape(self) -> Shape:
        return tuple(self.in_shape_)

    @property
    def _out_struct(self) -> jax.ShapeDtypeStruct:
        return jax.eval_shape(self.fn, jax.ShapeDtypeStruct(self.in_shape, self.in_dtype))

    @property
    def out_shape(self) -> Shape:
        return tuple(self._out_struct.shape)

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def out_dtype(self) -> np.dtype:
        return np.dtype(self._out_struct.dtype)

    def _apply(self, x: jax.Array) -> jax.Array:
        return self.fn(x)

    def _adjoint(self, y: jax.Array) -> jax.Array:
        if self.adjoint_fn is not None:
            return self.adjoint_fn(y)
        transpose = jax.linear_transpose(
            self.fn, jax.ShapeDtypeStruct(self.in_shape, self.in_dtype)
        )
        (xt,) = transpose(jnp.conj(y).astype(self.out_dtype))
        return jnp.conj(xt)


def estimate_norm(
    op: LinearOperator, key: jax.Array, iterations: int = 30
) -> jax.Array:
    """Operator 2-norm ``||A||`` by power iteration on ``A^H A`` (jit-compatible)."""
    x = jax.random.normal(key, op.in_shape, dtype=jnp.float32).astype(op.in_dtype)
    if jnp.issubdtype(op.in_dtype, jnp.complexfloating):
        k2 = jax.random.fold_in(key, 1)
        x = x + 1j * jax.random.normal(k2, op.in_shape, dtype=jnp.float32).astype(op.in_dtype)
    normal = op.N

    def body(_, v):
        v = v / jnp.linalg.norm(v)
        return normal._apply(v)

    v = jax.lax.fori_loop(0, iterations, body, x)
    v = v / jnp.linalg.norm(v)
    return jnp.sqrt(jnp.abs(jnp.vdot(v, normal._apply(v))))
