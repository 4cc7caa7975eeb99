"""Data-consistency modules: turn a prior denoiser into a posterior denoiser.

Every module implements ``posterior_denoise(denoiser, x, sigma, sigma_next, key)``, an estimate
of ``E[x0 | x_sigma = x, y]`` for the measurement ``y = A x0 + n``; the samplers re-noise it.
This form makes the modules interchangeable and lets one sampler serve all of them:

- :class:`ConjugateGradientProx` (DDS, Chung, Lee & Ye, ICLR 2024): Tweedie estimate
  ``x̂0 = D(x, σ)``, then a few CG steps on ``(A^H A + λ I) z = A^H y + λ x̂0`` warm-started at
  ``x̂0``. With ``λ = σ_y² / v(σ)`` and ``v(σ) = s² σ² / (s² + σ²)`` (the posterior variance of
  ``x0`` under a Gaussian prior of variance ``s²``) and CG run to convergence this *is* the exact
  posterior denoiser of a Gaussian prior, which the tests use.
- :class:`GradientGuidance` (DPS, Chung et al., ICLR 2023): ``D + σ² ∇_x log p(y | x)`` with the
  likelihood score approximated through the denoiser's Jacobian,
  ``∇_x log p(y|x) ≈ J_D(x)^H A^H (y - A D(x)) * w``. ``weighting="dps"`` uses Chung et al.'s
  normalised step ``w = 2 ζ / ((σ² - σ_next²) ||y - A D(x)||)``, which reproduces their update
  ``x_next -= ζ ∇ ||y - A D(x)||`` exactly under the ancestral re-noising; ``weighting="gaussian"``
  uses ``w = 1 / (σ_y² + v(σ))``, exact for a Gaussian prior when ``A A^H`` is a projection
  (masked orthonormal Fourier sampling).
- :class:`Projection` (score-MRI, Chung & Ye, MedIA 2022): the sample itself is projected onto
  ``{x : A x = y_σ}`` with ``y_σ = y + σ A n`` (measurements noised to the current level, Song et
  al., ICLR 2022), i.e. ``x + A^H (A A^H)^+ (y_σ - A x)`` with the pseudo-inverse applied by CG.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from jax.scipy.sparse.linalg import cg

from operators.linop import LinearOperator


def standard_noise(key: jax.Array, shape, dtype) -> jax.Array:
    """Unit-variance Gaussian noise per real component (complex: real and imaginary parts)."""
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        real = jnp.finfo(dtype).dtype
        kr, ki = jax.random.split(key)
        return (
            jax.random.normal(kr, shape, real) + 1j * jax.random.normal(ki, shape, real)
        ).astype(dtype)
    return jax.random.normal(key, shape, dtype)


def cg_tolerance(dtype) -> float:
    """Relative CG tolerance ``10 eps`` of the real dtype: CG stops once it has converged to
    working precision instead of running into ``0 / 0`` (a NaN) on an exactly zero residual."""
    return float(10 * jnp.finfo(jnp.finfo(dtype).dtype).eps)


def gaussian_posterior_variance(sigma: jax.Array, prior_var: float) -> jax.Array:
    """``v(σ) = s² σ² / (s² + σ²)``: variance of ``x0`` given ``x0 + σ n`` for ``x0 ~ N(·, s²)``."""
    return prior_var * sigma**2 / (prior_var + sigma**2)


class DataConsistency(struct.PyTreeNode):
    """Interface; the plain prior denoiser (no data) is this base class itself."""

    def posterior_denoise(self, denoiser, x, sigma, sigma_next, key) -> jax.Array:
        del sigma_next, key
        return denoiser(x, sigma)

    def project(self, x, sigma, key) -> jax.Array:
        """Projection of the sample itself (used by predictor-corrector samplers)."""
        del sigma, key
        return x


class ConjugateGradientProx(DataConsistency):
    """DDS proximal step: CG on ``(A^H A + λ(σ) I) z = A^H y + λ(σ) x̂0`` from ``x̂0``.

    ``λ(σ) = noise_var / v(σ)`` (Gaussian approximation, see module docstring) times
    ``weight_scale``; ``noise_var`` is the per-real-component variance of the measurement noise.
    ``noise_var = 0`` gives DDS's original form: unregularised CG steps warm-started at ``x̂0``
    (the iteration count is the regulariser).
    """

    A: LinearOperator
    y: jax.Array
    noise_var: jax.Array
    prior_var: float = struct.field(pytree_node=False, default=0.25)
    weight_scale: float = struct.field(pytree_node=False, default=1.0)
    iterations: int = struct.field(pytree_node=False, default=5)

    def posterior_denoise(self, denoiser, x, sigma, sigma_next, key) -> jax.Array:
        del sigma_next, key
        x0 = denoiser(x, sigma)
        lam = self.weight_scale * self.noise_var / gaussian_posterior_variance(
            sigma, self.prior_var
        )
        lam = lam.astype(jnp.finfo(x0.dtype).dtype)
        rhs = self.A.H(self.y) + lam * x0
        z, _ = cg(lambda v: self.A.N(v) + lam * v, rhs, x0=x0, tol=cg_tolerance(x0.dtype),
                  maxiter=self.iterations)
        return z.astype(x0.dtype)


class GradientGuidance(DataConsistency):
    """DPS guidance through the denoiser's Jacobian (see module docstring for the weights)."""

    A: LinearOperator
    y: jax.Array
    step: float = 1.0
    noise_var: jax.Array = 0.0
    prior_var: float = struct.field(pytree_node=False, default=0.25)
    weighting: str = struct.field(pytree_node=False, default="dps")

    def __post_init__(self) -> None:
        if self.weighting not in ("dps", "gaussian"):
            raise ValueError(f"weighting must be 'dps' or 'gaussian', got {self.weighting!r}")

    def posterior_denoise(self, denoiser, x, sigma, sigma_next, key) -> jax.Array:
        del key
        x0, pullback = jax.vjp(lambda v: denoiser(v, sigma), x)
        residual = self.y - self.A(x0)
        (grad,) = pullback(self.A.H(residual))
        real = jnp.finfo(x0.dtype).dtype
        if self.weighting == "dps":
            norm = jnp.maximum(jnp.linalg.norm(residual), jnp.finfo(real).tiny)
            w = 2.0 * self.step / ((sigma**2 - sigma_next**2) * norm)
        else:
            w = self.step / (self.noise_var + gaussian_posterior_variance(sigma, self.prior_var))
        return (x0 + (sigma**2 * w).astype(real) * grad).astype(x0.dtype)


class Projection(DataConsistency):
    """Hard projection of the sample onto the (noised) measurements, via CG on ``A A^H``."""

    A: LinearOperator
    y: jax.Array
    iterations: int = struct.field(pytree_node=False, default=10)

    def project(self, x, sigma, key) -> jax.Array:
        target = self.y + sigma * self.A(standard_noise(key, self.A.in_shape, x.dtype))
        residual = target - self.A(x)
        u, _ = cg(lambda v: self.A(self.A.H(v)), residual, tol=cg_tolerance(x.dtype),
                  maxiter=self.iterations)
        return (x + self.A.H(u)).astype(x.dtype)
