"""Plain-denoiser evaluation of a prior against the best-tuned Gaussian filter.

For clean images ``x`` (magnitude in [0, 1]) and noise level ``s``, the noisy image is
``x + s n`` (``n`` standard normal per real component; complex images get complex noise). The prior
denoises with ``D(x + s n, s)``. The baseline is ``scipy.ndimage.gaussian_filter`` (applied to real
and imaginary parts) with its width chosen *with the clean image* (an oracle) from a grid, i.e. the
best any Gaussian filter can do. Both are scored by PSNR with peak 1:
``10 log10(1 / mean |estimate - x|^2)`` over all pixels of the set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

WIDTHS = tuple(np.round(np.geomspace(0.3, 4.0, 16), 3))


def psnr(est: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean(np.abs(np.asarray(est) - np.asarray(ref)) ** 2))
    return float(10 * np.log10(1.0 / max(mse, 1e-20)))


def best_gaussian(noisy: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """``(psnr, width)`` of the oracle-tuned Gaussian filter over ``WIDTHS`` (per image set)."""

    def filt(a, w):
        if np.iscomplexobj(a):
            return filt(a.real, w) + 1j * filt(a.imag, w)
        return np.stack([ndimage.gaussian_filter(im, w) for im in a])

    best = (psnr(noisy, clean), 0.0)
    for w in WIDTHS:
        best = max(best, (psnr(filt(noisy, w), clean), float(w)))
    return best


def noisy_copy(clean: jnp.ndarray, sigma: float, key: jax.Array) -> jnp.ndarray:
    n = jax.random.normal(key, (*clean.shape, 2), jnp.float32) * sigma
    if jnp.iscomplexobj(clean):
        return (clean + jax.lax.complex(n[..., 0], n[..., 1])).astype(clean.dtype)
    return (clean + n[..., 0]).astype(clean.dtype)


def compare_with_gaussian(
    denoiser: Callable[[jnp.ndarray, float], jnp.ndarray],
    clean: jnp.ndarray,
    sigmas: Sequence[float] = (0.05, 0.1, 0.2),
    key: jax.Array | None = None,
) -> list[dict[str, float]]:
    """Rows ``{sigma, psnr_noisy, psnr_gaussian, gaussian_width, psnr_prior, gain_db}``."""
    key = jax.random.key(2024) if key is None else key
    rows = []
    for i, s in enumerate(sigmas):
        noisy = noisy_copy(clean, s, jax.random.fold_in(key, i))
        den = np.asarray(denoiser(noisy, s))
        ref, nz = np.asarray(clean), np.asarray(noisy)
        g_psnr, g_w = best_gaussian(nz, ref)
        p = psnr(den, ref)
        rows.append(
            {
                "sigma": float(s),
                "psnr_noisy": round(psnr(nz, ref), 2),
                "psnr_gaussian": round(g_psnr, 2),
                "gaussian_width": g_w,
                "psnr_prior": round(p, 2),
                "gain_db": round(p - g_psnr, 2),
            }
        )
    return rows


def format_rows(name: str, rows: list[dict[str, float]]) -> str:
    lines = [f"{name}: sigma | noisy | best Gaussian (width) | prior | gain"]
    for r in rows:
        lines.append(
            f"  {r['sigma']:.2f} | {r['psnr_noisy']:.2f} dB | {r['psnr_gaussian']:.2f} dB "
            f"({r['gaussian_width']}) | {r['psnr_prior']:.2f} dB | {r['gain_db']:+.2f} dB"
        )
    return "\n".join(lines)
