"""NUFFT backend on jax-finufft (Flatiron Institute's FINUFFT, wrapped as JAX primitives).

Mapping of sigpy's convention (see :mod:`operators.mri.nufft_jax`) onto FINUFFT's
``c_j = sum_k f_k exp(iflag i sum_i k_i x_ij)`` with modes ``k_i = -N_i//2 .. (N_i-1)//2``
(``modeord=0``, i.e. array index ``n_i`` is mode ``n_i - N_i//2``, exactly sigpy's centring):
``x_ij = 2 pi k_j[i] / N_i``, ``iflag = -1`` for the forward (type 2), ``iflag = +1`` for the
adjoint (type 1), both scaled by ``prod(N)^(-1/2)``. Leading batch axes (coils) are passed to
FINUFFT as one batched transform.

FINUFFT's tolerance is not a bound: against an exact NUDFT its relative error reached 2.2x the
tolerance here (2-D, complex64; 0.1-2.2x over 2-D/3-D cases), so this backend passes
``eps / EPS_SAFETY`` to FINUFFT, which makes the requested ``eps`` hold (tested for 1e-3 and 1e-5).

FINUFFT's type 1 is the adjoint of its type 2 only up to ``eps``: the normalised adjoint error of
this backend is of the order of ``eps / sqrt(M)``, so adjoint-exact uses (the property tests) need
a small ``eps``. Used because it is the fastest CPU NUFFT; it does not run on TPU.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from operators.linop import LinearOperator, Shape

EPS_SAFETY = 3.0  # FINUFFT tolerance = requested eps / EPS_SAFETY (see module docstring)


def _patch_batching() -> None:
    """jax-finufft 1.3.1's vmap rule reads ``jax._src.interpreters.batching.not_mapped``, which
    newer JAX (0.10) removed; it was ``None`` (JAX's marker for an unbatched argument), so restore
    that alias. Without it every ``jax.vmap`` of this backend fails with an AttributeError."""
    from jax._src.interpreters import batching

    if not hasattr(batching, "not_mapped"):
        batching.not_mapped = None


def available() -> bool:
    """True when ``jax_finufft`` imports."""
    try:
        import jax_finufft  # noqa: F401
    except Exception:  # pragma: no cover - depends on the installation
        return False
    _patch_batching()
    return True


class FinufftNUFFT(LinearOperator):
    """NUFFT ``(*batch, *image_shape) -> (*batch, *coord_shape)`` computed by jax-finufft.

    Leaves: the scaled coordinates ``points`` (``d`` arrays of length ``M``); static: shapes,
    ``eps`` and dtype.
    """

    coords: jax.Array
    points: tuple[jax.Array, ...]
    toeplitz_kernel: jax.Array | None
    image_shape: Shape = struct.field(pytree_node=False)
    coord_shape: Shape = struct.field(pytree_node=False)
    batch_shape: Shape = struct.field(pytree_node=False)
    eps: float = struct.field(pytree_node=False)
    dtype: Any = struct.field(pytree_node=False, default=jnp.complex64)

    @classmethod
    def build(
        cls,
        coords: np.ndarray,
        image_shape: Shape,
        eps: float,
        dtype: Any = np.complex64,
        batch_shape: Shape = (),
    ) -> FinufftNUFFT:
        image_shape = tuple(int(n) for n in image_shape)
        real = np.finfo(np.dtype(dtype)).dtype
        flat = np.asarray(coords, np.float64).reshape(-1, len(image_shape))
        points = tuple(
            jnp.asarray((2.0 * np.pi / n) * flat[:, i], real) for i, n in enumerate(image_shape)
        )
        return cls(
            coords=jnp.asarray(np.asarray(coords, np.float64).reshape(-1, len(image_shape)), real),
            points=points,
            toeplitz_kernel=None,
            image_shape=image_shape,
            coord_shape=tuple(int(s) for s in np.shape(coords)[:-1]),
            batch_shape=tuple(batch_shape),
            eps=float(eps),
            dtype=np.dtype(dtype),
        )

    @property
    def in_shape(self) -> Shape:
        return (*self.batch_shape, *self.image_shape)

    @property
    def out_shape(self) -> Shape:
        return (*self.batch_shape, *self.coord_shape)

    @property
    def in_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    out_dtype = in_dtype

    @property
    def name(self) -> str:
        return "NUFFT[finufft]"

    @property
    def finufft_eps(self) -> float:
        """The tolerance handed to FINUFFT."""
        return self.eps / EPS_SAFETY

    @property
    def _scale(self) -> float:
        return float(np.prod(self.image_shape)) ** -0.5

    def _apply(self, x: jax.Array) -> jax.Array:
        import jax_finufft

        y = jax_finufft.nufft2(x, *self.points, iflag=-1, eps=self.finufft_eps)
        return (y * self._scale).reshape(self.out_shape).astype(self.dtype)

    def _adjoint(self, y: jax.Array) -> jax.Array:
        import jax_finufft

        flat = y.reshape(*self.batch_shape, -1)
        x = jax_finufft.nufft1(self.image_shape, flat, *self.points, iflag=1, eps=self.finufft_eps)
        return (x * self._scale).astype(self.dtype)

    @property
    def N(self) -> LinearOperator:
        if self.toeplitz_kernel is None:
            return super().N
        from operators.mri.toeplitz import ToeplitzNormal

        return ToeplitzNormal(self.toeplitz_kernel, self.image_shape, self.batch_shape, self.dtype)
