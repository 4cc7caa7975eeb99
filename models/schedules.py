"""Noise schedules as pure functions returning sigma arrays (float32, decreasing, last entry 0).

- :func:`karras_sigmas`: the EDM discretisation (Karras et al. 2022, "Elucidating the Design Space
  of Diffusion-Based Generative Models", eq. 5):
  ``sigma_i = (s_max^(1/rho) + i/(N-1) (s_min^(1/rho) - s_max^(1/rho)))^rho``.
- :func:`ve_sigmas`: variance exploding (Song et al. 2021): geometric from s_max to s_min.
- :func:`vp_sigmas`: variance preserving (DDPM/VP-SDE, linear beta) expressed as the equivalent
  sigma of the scaled process, ``sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1)``
  (Karras et al. 2022, Table 1), sampled on ``t`` from 1 to ``eps_s``.

All functions append a final ``0`` so a sampler can finish on the clean image.
"""

from __future__ import annotations

import jax.numpy as jnp


def _check(n: int, sigma_min: float, sigma_max: float) -> None:
    if int(n) < 2:
        raise ValueError(f"need at least 2 noise levels, got n={n}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(
            f"expected 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}"
        )


def _append_zero(s: jnp.ndarray) -> jnp.ndarray:
    return jnp.concatenate([s, jnp.zeros((1,), s.dtype)])


def karras_sigmas(
    n: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0
) -> jnp.ndarray:
    """EDM/Karras sigmas: ``n`` levels from ``sigma_max`` down to ``sigma_min`` plus a final 0."""
    _check(n, sigma_min, sigma_max)
    i = jnp.arange(n, dtype=jnp.float32) / (n - 1)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return _append_zero(((hi + i * (lo - hi)) ** rho).astype(jnp.float32))


def ve_sigmas(n: int, sigma_min: float = 0.01, sigma_max: float = 100.0) -> jnp.ndarray:
    """VE sigmas: geometric ``sigma_max (sigma_min/sigma_max)^(i/(n-1))`` plus a final 0."""
    _check(n, sigma_min, sigma_max)
    i = jnp.arange(n, dtype=jnp.float32) / (n - 1)
    return _append_zero((sigma_max * (sigma_min / sigma_max) ** i).astype(jnp.float32))


def vp_sigma(t: jnp.ndarray, beta_min: float = 0.1, beta_d: float = 19.9) -> jnp.ndarray:
    """VP sigma of time ``t``: ``sqrt(exp(beta_d t^2/2 + beta_min t) - 1)``."""
    t = jnp.asarray(t, jnp.float32)
    return jnp.sqrt(jnp.expm1(0.5 * beta_d * t**2 + beta_min * t))


def vp_sigmas(
    n: int, beta_min: float = 0.1, beta_d: float = 19.9, eps_s: float = 1e-3
) -> jnp.ndarray:
    """VP sigmas on ``t`` uniform from 1 to ``eps_s`` (``n`` levels) plus a final 0."""
    if int(n) < 2:
        raise ValueError(f"need at least 2 noise levels, got n={n}")
    if not 0 < eps_s < 1:
        raise ValueError(f"expected 0 < eps_s < 1, got {eps_s}")
    t = jnp.linspace(1.0, eps_s, n, dtype=jnp.float32)
    return _append_zero(vp_sigma(t, beta_min, beta_d))
