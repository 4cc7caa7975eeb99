"""Per-slice reconstruction functions built from command-line options, and their runner over
slice stacks; shared by ``recon mri`` and ``recon ct``.

:func:`diffusion_method` turns command-line options into a per-slice function for the diffusion
methods (the names are read here, where objects are built, and nowhere else), and
:func:`run_in_batches` applies a per-slice function to a stack of slices as vmapped, device-
sharded batches (:func:`recon.parallel.map_batched`) with a progress bar over batches.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from recon import interrupts

# names, defaults and the shared options live in a module without JAX (fast start-up)
from recon.cli_options import DIFFUSION_METHODS as DIFFUSION_METHODS
from recon.cli_options import MRI_WARM_START as MRI_WARM_START
from recon.cli_options import add_diffusion_options as add_diffusion_options
from recon.errors import UserError


def l1_warm_started_reconstruct(denoiser: Any, A: Any, y: jax.Array, cfg: Any, key: jax.Array,
                                **l1_options: Any) -> tuple[jax.Array, jax.Array]:
    """What ``recon mri --method dds`` runs by default: the L1-wavelet reconstruction of ``y``
    (:func:`recon.solvers.fista.fista_l1` with ``l1_options``), then
    :func:`recon.diffusion.posterior.reconstruct` warm-started from it at ``cfg.start_sigma``
    (``None``: :data:`MRI_WARM_START`). Pure JAX (jit/vmap it); returns (mean, std)."""
    import dataclasses

    from recon.diffusion.posterior import reconstruct
    from recon.solvers.fista import fista_l1

    if cfg.start_sigma is None:
        cfg = dataclasses.replace(cfg, start_sigma=MRI_WARM_START)
    return reconstruct(denoiser, A, y, cfg, key, prior_var=float(denoiser.config.sigma_data) ** 2,
                       x_start=fista_l1(A, y, **l1_options).x)


def diffusion_method(args: argparse.Namespace, expects_complex: bool,
                     warm_start: Callable | None = None, start_sigma: float = 0.0) -> Callable:
    """``recon_slice(A, y, key, noise_std=None) -> (mean, std)`` for ``args.method`` with the
    chosen prior; a ``noise_std`` given per call (per slice, may be traced) replaces
    ``args.noise_std``.

    With ``start_sigma > 0`` every sample starts from ``warm_start(A, y)`` (a classical estimate,
    pure JAX) noised to that level instead of from pure noise
    (:mod:`recon.diffusion.posterior`, warm start).
    """
    import dataclasses

    from recon.diffusion.posterior import DiffusionConfig, reconstruct

    if start_sigma > 0 and warm_start is None:
        raise ValueError("start_sigma > 0 needs a warm_start estimate")
    try:
        cfg = DiffusionConfig(method=args.method, nfe=args.nfe, n_samples=args.samples,
                              noise_std=args.noise_std,
                              start_sigma=start_sigma if start_sigma > 0 else None)
    except ValueError as err:
        raise UserError(str(err)) from None
    try:
        prior = cached_prior(args.prior)
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from None
    if prior.config.complex != expects_complex:
        kind = "complex (MRI)" if expects_complex else "real (CT)"
        raise UserError(f"prior {args.prior!r} cannot serve {kind} images: it was trained on "
                        f"{'complex' if prior.config.complex else 'real'} images")
    prior_var = float(prior.config.sigma_data) ** 2

    def recon_slice(A, y, key, noise_std=None):
        # noise_std (traced, per slice) overrides the options' value: an estimate from the data
        c = cfg if noise_std is None else dataclasses.replace(cfg, noise_std=noise_std)
        x_start = warm_start(A, y) if c.start_sigma is not None else None
        return reconstruct(prior, A, y, c, key, prior_var=prior_var, x_start=x_start)

    return recon_slice


def cached_prior(name: str):
    """:func:`models.load_prior`, once per process and weights: ``recon mri`` over many files and
    ``recon serve`` over many sessions load a prior's weights once (and, the denoiser being the
    same object, reuse its compiled sampler). The key holds the loader (a replaced
    ``models.load_prior`` in tests is never served from another's cache), the weights folder
    (``$RECON_WEIGHTS_DIR`` may change between calls) and the size and modification time of its
    files, so replaced or damaged weights are read again, never served from memory."""
    import models
    from models.registry import weights_dir

    folder = weights_dir() / name
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns)
                  for f in sorted(folder.glob("*")) if f.is_file()) if folder.is_dir() else ()
    return _load_once(models.load_prior, name, str(folder), stamp)


@functools.lru_cache(maxsize=4)
def _load_once(loader: Callable, name: str, folder: str, stamp: tuple):
    return loader(name)


def run_in_batches(
    fn: Callable[[Any, Any], Any], batched: Any, shared: Any, batch: int = 0,
    desc: str = "slices", quiet: bool = False,
) -> Any:
    """``fn(example, shared)`` for every leading-axis example, in sharded batches."""
    from tqdm import tqdm

    from recon.parallel import map_batched

    total = int(np.shape(jax.tree_util.tree_leaves(batched)[0])[0])
    size = batch if batch > 0 else jax.local_device_count()
    outs = []
    with tqdm(total=total, desc=desc, unit="slice", disable=quiet or total <= 1) as bar:
        for start in range(0, total, size):
            interrupts.check()  # before each jitted batch: a SIGINT/SIGTERM stops here
            part = jax.tree_util.tree_map(lambda a, s=start: a[s : s + size], batched)
            outs.append(jax.device_get(map_batched(fn, part, shared)))
            bar.update(min(size, total - start))
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=0), *outs)


def estimate_noise_std(kspace: np.ndarray, mask: np.ndarray, fraction: float = 0.125) -> float:
    """Noise standard deviation per real component from the k-space periphery.

    Uses the sampled positions (``mask`` ``(W,)`` or ``(H, W)``) in the outer ``fraction`` of
    both the readout (second to last) and the phase-encode (last) axis, where an MR image has
    little signal (without sampled positions there: the sampled positions of the outer readout
    rows), and the median of the magnitudes: for complex white noise of std ``σ`` per component
    the magnitude is Rayleigh distributed with median ``σ sqrt(2 ln 2)``. Signal in the
    periphery biases it upwards.
    """
    k = np.asarray(kspace)
    h, w = k.shape[-2:]
    m = np.asarray(mask) != 0
    sampled = np.broadcast_to(m.reshape(w) if m.size == w else m.reshape(h, w), (h, w))
    rows = np.zeros(h, bool)
    rows[: max(1, int(fraction * h))] = True
    rows[h - max(1, int(fraction * h)) :] = True
    cols = (np.arange(w) < fraction * w) | (np.arange(w) >= (1 - fraction) * w)
    sel = sampled & rows[:, None] & cols[None, :]
    if not sel.any():
        sel = sampled & rows[:, None]
    if not sel.any():
        sel = sampled
    corner = np.abs(k[..., sel])
    return float(np.median(corner) / np.sqrt(2 * np.log(2)))


def coil_support(maps):
    """1 where any coil sees the pixel (``Σ_c |S_c|² > 0``), else 0.

    ESPIRiT crops its maps to the object, so outside the support the SENSE model measures
    nothing and a diffusion sample there is pure prior; the classical solvers return 0 there
    (minimum norm), and so do the diffusion pipelines, by multiplying with this support.
    """
    import jax.numpy as jnp

    return (jnp.sum(jnp.abs(maps) ** 2, axis=0) > 0).astype(jnp.float32)


def check_finite(image: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(image)):
        raise UserError(f"{what} produced NaN or Inf; no output written")
