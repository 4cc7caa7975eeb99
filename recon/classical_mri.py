"""Classical multi-coil MRI reconstruction of a volume: ESPIRiT maps + SENSE-model solvers.

For k-space ``(slices, C, H, W)`` with a 1-D phase-encode mask ``(W,)`` (fastMRI layout) or a 2D
mask ``(H, W)`` (:mod:`recon.sampling`):

- ``zero-filled``: root-sum-of-squares of the coil images of the zero-filled k-space (fastMRI's
  baseline); no coil maps.
- ``cg-sense``: ``(A^H A + lam I) x = A^H y`` by CG (:mod:`recon.solvers.cg`);
- ``l1-wavelet``: FISTA on ``1/2||Ax - y||² + lam·max|A^H y|·||Wx||_1``
  (:mod:`recon.solvers.fista`);
- ``tv``: total variation by PDHG (:mod:`recon.solvers.pdhg`, when available);

with ``A = operators.mri.sense(maps, mask)`` and ``maps`` from ESPIRiT (:mod:`recon.coils`)
calibrated on the fully sampled centre. ESPIRiT maps have unit root-sum-of-squares where the
coils see signal, so ``|x|`` is on fastMRI's intensity scale (the RSS of the coil images under the
orthonormal inverse FFT, DESIGN.md).

Slices are processed in batches by one jitted, vmapped function per (method, mask, batch shape):
a batch is one XLA computation, not a Python loop over slices; a progress callback sees batches.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from recon import aot, interrupts

# names and defaults live in a module without JAX, so the command line starts fast
from recon.cli_options import DEFAULTS as DEFAULTS
from recon.cli_options import METHODS as METHODS
from recon.coils.espirit import espirit
from recon.image_grid import centre_crop as centre_crop
from recon.sampling import calibration_region
from recon.zero_filled import zero_filled_rss


def rss(coil_images: jax.Array, axis: int = 0) -> jax.Array:
    """Root-sum-of-squares over ``axis``."""
    return jnp.sqrt(jnp.sum(jnp.abs(coil_images) ** 2, axis=axis))


def _tv_solver() -> Callable:
    try:
        from recon.solvers import pdhg
    except ImportError as err:
        raise ValueError("method 'tv' needs recon.solvers.pdhg, which is not installed in this "
                         "version") from err
    return pdhg


def _solve_one(method: str, ksp: jax.Array, maps: jax.Array, mask: np.ndarray, lam: float,
               iters: int) -> jax.Array:
    # imported here: a run whose programs are all in recon.aot's cache never needs them
    from operators.mri import sense
    from recon.solvers.cg import cg_sense
    from recon.solvers.fista import fista_l1

    A = sense(maps, mask)
    y = ksp * jnp.asarray(mask, jnp.real(ksp).dtype)
    if method == "cg-sense":
        return cg_sense(A, y, lam=lam, maxiter=iters, tol=0.0).x
    if method == "l1-wavelet":
        return fista_l1(A, y, lam=lam, iterations=iters).x
    if method == "tv":
        return _tv(A, y, lam, iters)
    raise ValueError(f"unknown method {method!r}")


def _tv(A, y, lam, iters):
    pdhg = _tv_solver()
    aty = A.H(y)
    scale = jnp.max(jnp.abs(aty))
    return pdhg.tv_recon(A, y, lam=lam * scale, iterations=iters)


@functools.lru_cache(maxsize=8)
def _batched(method: str, mask_bytes: bytes, shape: tuple[int, ...], lam: float, iters: int
             ) -> Callable:
    mask = np.frombuffer(mask_bytes, np.float32).reshape(shape)
    fn = functools.partial(_solve_one, method, mask=mask, lam=lam, iters=iters)
    return jax.jit(jax.vmap(lambda k, m: fn(k, m)))


def _as_mask(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """A sampling mask as ``(W,)`` (phase-encode lines) or ``(H, W)`` float32."""
    mask = np.asarray(mask, np.float32)
    if mask.size == w:
        return mask.reshape(w)
    if mask.size == h * w:
        return mask.reshape(h, w)
    raise ValueError(f"mask of shape {mask.shape} fits neither ({w},) nor ({h}, {w})")


def reconstruct(
    kspace: np.ndarray,
    mask: np.ndarray,
    method: str = "l1-wavelet",
    *,
    lam: float | None = None,
    iters: int | None = None,
    calib: np.ndarray | None = None,
    calib_mask: np.ndarray | None = None,
    batch: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Magnitude images ``(slices, H, W)`` float32 from k-space ``(slices, C, H, W)``.

    Args:
        kspace: complex, zeros at unsampled positions; phase encode last.
        mask: ``(W,)`` sampled phase-encode lines, or an ``(H, W)`` 2D mask (Poisson-disc,
            random, readout undersampling: :mod:`recon.sampling`).
        method: one of :data:`METHODS`.
        lam, iters: solver options (``None``: :data:`DEFAULTS`; ``lam`` is relative).
        calib, calib_mask: k-space and mask to calibrate the coil maps on (ISMRMRD files
            with separate ACS lines); default the data itself. ESPIRiT calibrates on the
            largest fully sampled centred block (:func:`recon.sampling.calibration_region`).
        batch: slices per vmapped batch (default: from the memory ESPIRiT needs).
        progress: called with the number of slices finished after every batch.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    kspace = np.asarray(kspace)
    if kspace.ndim != 4:
        raise ValueError(f"expected k-space (slices, coils, H, W), got shape {kspace.shape}")
    ns, nc, h, w = kspace.shape
    mask = _as_mask(mask, h, w)
    opts = {**DEFAULTS[method]}
    if lam is not None:
        opts["lam"] = float(lam)
    if iters is not None:
        opts["iters"] = int(iters)
    if method == "tv":
        _tv_solver()
    if batch is None:
        per_slice = h * w * nc * nc * 8 * 4  # the ESPIRiT matrix field and its temporaries
        batch = int(max(1, min(ns, (1 << 29) // max(per_slice, 1))))
    calib = kspace if calib is None else np.asarray(calib)
    cmask = mask if calib_mask is None else _as_mask(calib_mask, h, w)
    if method != "zero-filled":
        region, kernel = calibration_region(cmask, (h, w), nc)
    out = np.zeros((ns, h, w), np.float32)
    for start in range(0, ns, batch):
        interrupts.check()  # a SIGINT/SIGTERM stops before the next jitted step
        stop = min(ns, start + batch)
        # pad the last batch with copies of its last slice: one compiled shape per volume
        take = np.minimum(np.arange(start, start + batch), stop - 1)
        if method == "zero-filled":
            img = zero_filled_rss(kspace[start:stop])
        else:
            kb = jnp.asarray(kspace[take], jnp.complex64)
            # through recon.aot: a second run of the same shapes skips tracing and lowering
            maps = aot.call("espirit", lambda: functools.partial(
                espirit, calib_shape=region, kernel_width=kernel),
                jnp.asarray(calib[take], jnp.complex64), static=(region, kernel))
            interrupts.check()
            static = (method, hashlib.sha256(mask.tobytes()).hexdigest(), mask.shape,
                      float(opts["lam"]), int(opts["iters"]))
            img = jnp.abs(aot.call(f"mri-{method}", lambda: _batched(
                method, mask.tobytes(), mask.shape, float(opts["lam"]), int(opts["iters"])),
                kb, maps, static=static))
        out[start:stop] = np.asarray(img, np.float32)[: stop - start]
        if progress is not None:
            progress(stop - start)
    if not np.isfinite(out).all():
        raise ValueError("the reconstruction produced NaN or Inf (check the input scaling)")
    return out
