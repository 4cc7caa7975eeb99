"""An exact Gaussian prior: the denoiser, score and posterior are known in closed form.

Prior ``x0 ~ N(mean, var)`` per real component (complex images: real and imaginary parts
independent, each with variance ``var``), so for ``x = x0 + sigma * n`` the minimum-MSE
denoiser (Tweedie) is

    D(x, sigma) = mean + var / (var + sigma^2) * (x - mean),

and the per-component posterior variance of ``x0`` given ``x`` is
``var * sigma^2 / (var + sigma^2)``. It serves as the prior for sampler correctness tests and as
the Gaussian approximation behind the default data-consistency weights.
"""

from __future__ import annotations

import jax
from flax import struct


class GaussianDenoiser(struct.PyTreeNode):
    """Exact denoiser of the prior ``N(mean, var)`` (``mean`` broadcasts against images)."""

    mean: jax.Array
    var: jax.Array

    def __call__(self, x: jax.Array, sigma: jax.Array) -> jax.Array:
        shrink = self.var / (self.var + sigma**2)
        return (self.mean + shrink * (x - self.mean)).astype(x.dtype)

    def posterior_variance(self, sigma: jax.Array) -> jax.Array:
        """Per-component variance of ``x0`` given ``x0 + sigma * n``."""
        return self.var * sigma**2 / (self.var + sigma**2)
