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


#: ``--lam auto``: coarse candidates (multiples of the method's default weight), then the
#: best one's neighbours at half and twice its weight, times the method's ``shrink``
#: (:data:`recon.measurement_split.SCHEMES`)
AUTO_GRID = (1 / 16, 1 / 4, 1.0, 4.0, 16.0, 64.0)


def _grid_solver(method: str, iters: int) -> Callable:
    """``(k, maps, lams (G,), mask (H, W)) -> (G, H, W)`` per slice, vmapped over slices: each
    slice solved for every weight in ``lams``. The mask is an argument (traced), so the
    folds and slices of one shape share one compiled program."""

    def one(k, m, lams, mask):
        return jax.vmap(lambda lam: _solve_one(method, k, m, mask, lam, iters))(lams)
    return jax.vmap(one, in_axes=(0, 0, 0, None))


def _residual_program() -> Callable:
    """``(k, maps, xs (G, H, W), held (H, W)) -> (G,)`` per slice, vmapped over slices: the
    held-out residuals of one slice's candidates."""
    from operators.mri import sense
    from recon.measurement_split import heldout_residual

    def one(k, m, xs, held):
        A = sense(m)
        return jax.vmap(lambda x: heldout_residual(A, held, x, k))(xs)
    return jax.vmap(one, in_axes=(0, 0, 0, None))


def _validated_weights(method: str, kb: jax.Array, maps: jax.Array, mask: np.ndarray,
                       default: float, iters: int, fraction: float | None, seed: int,
                       noise_std: np.ndarray) -> dict:
    """Per slice of the batch: the weight chosen by measurement-split validation and the
    record of candidates, residuals and noise floor (module :mod:`recon.measurement_split`)."""
    from recon.measurement_split import (
        AUTO_REFINE,
        SCHEMES,
        choose_weights,
        noise_floor,
        split,
    )

    h, w = kb.shape[-2:]
    nb, nc = kb.shape[0], kb.shape[1]
    scheme = SCHEMES[method]
    fraction = scheme.fraction if fraction is None else fraction
    splits = [split(mask, (h, w), fraction, seed, lines=scheme.lines, fold=f)
              for f in range(scheme.folds)]
    n_held = int(sum(held.sum() for _, held in splits))

    def candidates(lams: np.ndarray) -> np.ndarray:
        lams = jnp.asarray(lams, jnp.float32)
        total = 0.0
        for train, held in splits:
            xs = aot.call(f"mri-{method}-grid", lambda: _grid_solver(method, iters),
                          kb, maps, lams, jnp.asarray(train), static=(method, iters))
            interrupts.check()
            r = aot.call("mri-heldout", _residual_program, kb, maps, xs, jnp.asarray(held))
            total = total + np.asarray(r, np.float64)
        return total / len(splits)

    held_energy = sum(np.sum(np.abs(np.asarray(kb) * held) ** 2, axis=(1, 2, 3))
                      for _, held in splits)
    floors = [noise_floor(float(noise_std[i]), n_held, nc, float(held_energy[i]))
              for i in range(nb)]
    return choose_weights(candidates, default, AUTO_GRID, AUTO_REFINE, floors,
                          2 * n_held * nc, shrink=scheme.shrink)


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
    lam: float | str | None = None,
    iters: int | None = None,
    calib: np.ndarray | None = None,
    calib_mask: np.ndarray | None = None,
    batch: int | None = None,
    progress: Callable[[int], None] | None = None,
    holdout: float | None = None,
    record: dict | None = None,
) -> np.ndarray:
    """Magnitude images ``(slices, H, W)`` float32 from k-space ``(slices, C, H, W)``.

    Args:
        kspace: complex, zeros at unsampled positions; phase encode last.
        mask: ``(W,)`` sampled phase-encode lines, or an ``(H, W)`` 2D mask (Poisson-disc,
            random, readout undersampling: :mod:`recon.sampling`).
        method: one of :data:`METHODS`.
        lam, iters: solver options (``None``: :data:`DEFAULTS`; ``lam`` is relative).
            ``lam="auto"``: the weight of each slice is chosen by measurement-split validation
            (:mod:`recon.measurement_split`) among :data:`AUTO_GRID` times the default and the
            best one's neighbours (:data:`recon.measurement_split.AUTO_REFINE`), corrected by
            the method's ``shrink`` factor (:data:`recon.measurement_split.SCHEMES`), then the
            slice is reconstructed from all its data with it (8 validation solves per fold, one
            final solve); an undecided validation keeps the default weight.
        holdout: held-out fraction per fold for ``lam="auto"``, in ``(0, 0.5]`` (default:
            the method's :data:`recon.measurement_split.SCHEMES`).
        record: for ``lam="auto"``, filled per slice with ``lam`` ``(S,)`` (the weight used),
            ``validated`` ``(S,)`` (the best candidate before the shrink), ``candidates`` and
            ``heldout_residual`` ``(S, 8)``, ``noise_floor`` ``(S,)``, ``decided`` ``(S,)``.
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
    auto = isinstance(lam, str)
    if auto and (lam != "auto" or method == "zero-filled"):
        raise ValueError(f"lam must be a number or 'auto' (not for zero-filled), got {lam!r}")
    if lam is not None and not auto:
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
    if auto:
        from recon.measurement_split import SCHEMES, split
        from recon.slice_methods import estimate_noise_std

        scheme = SCHEMES[method]  # refuse a bad fraction or too few samples before any work
        split(mask, (h, w), scheme.fraction if holdout is None else holdout,
              lines=scheme.lines)
        chosen: dict[str, list] = {}
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
            if auto:
                sigma = np.array([estimate_noise_std(kspace[i], mask) for i in take])
                rec = _validated_weights(method, kb, maps, mask, float(opts["lam"]),
                                         int(opts["iters"]), holdout, 0, sigma)
                for k, v in rec.items():
                    chosen.setdefault(k, []).append(v[: stop - start])
                interrupts.check()
                full = np.broadcast_to(mask if mask.ndim == 2 else mask[None], (h, w))
                img = jnp.abs(aot.call(f"mri-{method}-grid", lambda: _grid_solver(
                    method, int(opts["iters"])), kb, maps,
                    jnp.asarray(rec["lam"][:, None], jnp.float32),
                    jnp.asarray(full, jnp.float32), static=(method, int(opts["iters"])))[:, 0])
            else:
                static = (method, hashlib.sha256(mask.tobytes()).hexdigest(), mask.shape,
                          float(opts["lam"]), int(opts["iters"]))
                img = jnp.abs(aot.call(f"mri-{method}", lambda: _batched(
                    method, mask.tobytes(), mask.shape, float(opts["lam"]),
                    int(opts["iters"])), kb, maps, static=static))
        out[start:stop] = np.asarray(img, np.float32)[: stop - start]
        if progress is not None:
            progress(stop - start)
    if not np.isfinite(out).all():
        raise ValueError("the reconstruction produced NaN or Inf (check the input scaling)")
    if auto and record is not None:
        record.update({k: np.concatenate(v) for k, v in chosen.items()})
    return out
