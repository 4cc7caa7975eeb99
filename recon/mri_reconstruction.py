"""One MRI reconstruction path: raw data in, images out, for every front end.

``recon mri`` (one file or many), the streaming server and the evaluation scripts all call
:func:`load_raw` (file -> pre-processed arrays) or build the same dictionary from streamed
acquisitions, then :func:`reconstruct_raw` (arrays + options -> images), so there is one code path
to test. ``options`` is an ``argparse.Namespace`` with the option names of ``recon mri`` (a server
fills it from the same parser).

The raw-data dictionary holds ``format``, ``kspace`` ``(slices, coils, H, W)`` complex64, ``mask``
(sampling mask, broadcastable to ``(H, W)``; phase encode last), ``calib`` (calibration k-space of
the same shape, or ``None`` to calibrate from ``kspace``), ``calib_mask`` and ``prewhitened``.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib

import numpy as np

from recon.errors import UserError


@dataclasses.dataclass
class MRIResult:
    """Magnitude images ``(slices, H, W)`` float32 on fastMRI's intensity scale, the posterior std
    (diffusion methods with more than one sample, else ``None``), the options used, and the
    k-space actually reconstructed (after coil compression)."""

    images: np.ndarray
    std: np.ndarray | None
    options: dict
    kspace_shape: tuple[int, ...]


def load_raw(path: pathlib.Path, fmt: str) -> dict:
    """Read ``path`` as fastMRI or ISMRMRD and apply the raw-data pre-processing."""
    from recon import preprocess
    from recon.io.fastmri import read_fastmri
    from recon.io.ismrmrd import is_ismrmrd, read_ismrmrd

    if fmt == "auto":
        fmt = "ismrmrd" if is_ismrmrd(path) else "fastmri"
    if fmt == "fastmri":
        d = read_fastmri(path)
        return {"format": fmt, "kspace": d.kspace, "mask": d.mask, "calib": None,
                "calib_mask": None, "prewhitened": False}
    d = read_ismrmrd(path)
    ksp, calib = d.kspace, d.calib
    whitened = False
    if d.noise is not None:
        try:
            w = preprocess.whitening_matrix(d.noise)
        except ValueError as err:
            raise UserError(f"{path}: noise scan: {err}") from None
        ksp = np.einsum("ij,sj...->si...", w, ksp).astype(np.complex64)
        calib = np.einsum("ij,sj...->si...", w, calib).astype(np.complex64)
        whitened = True
    if d.oversampling > 1:
        ksp = preprocess.remove_readout_oversampling(ksp, d.oversampling, axis=-2)
        calib = preprocess.remove_readout_oversampling(calib, d.oversampling, axis=-2)
    cmask = np.any(calib != 0, axis=(0, 1, 2)).astype(np.float32)
    return {"format": fmt, "kspace": ksp, "mask": d.mask, "calib": calib, "calib_mask": cmask,
            "prewhitened": whitened}


def check_options(args: argparse.Namespace) -> None:
    """Refuse option values no reconstruction can use (before any data are read)."""
    if args.iters is not None and args.iters < 1:
        raise UserError(f"--iters must be >= 1, got {args.iters}")
    if args.lam is not None and not (np.isfinite(args.lam) and args.lam >= 0):
        raise UserError(f"--lam must be a finite number >= 0, got {args.lam}")
    if args.warm_start is not None and not (np.isfinite(args.warm_start)
                                            and args.warm_start >= 0):
        raise UserError(f"--warm-start must be a finite noise level >= 0, got {args.warm_start}")
    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")


def reconstruct_raw(data: dict, args: argparse.Namespace, source: str,
                    crop: tuple[int, int] | None = None, progress=None) -> MRIResult:
    """Reconstruct every slice of ``data`` with ``args.method``; centre-crop to ``crop``.

    ``source`` names the input in error messages; ``progress(n)`` is called as slices finish
    (classical methods).
    """
    from recon import preprocess
    from recon.classical_mri import DEFAULTS, centre_crop, reconstruct

    ksp, calib = data["kspace"], data["calib"]
    _ns, nc, h, w = ksp.shape
    if args.coils is not None:
        if not 1 <= args.coils <= nc:
            raise UserError(f"{source}: --coils must be between 1 and {nc} (the file's coil "
                            f"count), got {args.coils}")
        a = preprocess.compression_matrix(ksp if calib is None else calib, args.coils, 1)
        ksp = np.einsum("ij,sj...->si...", a, ksp).astype(np.complex64)
        if calib is not None:
            calib = np.einsum("ij,sj...->si...", a, calib).astype(np.complex64)
    if crop is not None and (crop[0] > h or crop[1] > w):
        raise UserError(f"{source}: --crop {crop[0]}x{crop[1]} is larger than the image {h}x{w}")
    if args.method not in DEFAULTS:  # a diffusion method
        images, std, opts = _diffusion(args, ksp, data, calib, source)
    else:
        opts = {**DEFAULTS[args.method]}
        if args.lam is not None:
            opts["lam"] = args.lam
        if args.iters is not None:
            opts["iters"] = args.iters
        try:
            images = reconstruct(ksp, data["mask"], args.method, lam=opts.get("lam"),
                                 iters=opts.get("iters"), calib=calib,
                                 calib_mask=data["calib_mask"], batch=args.batch,
                                 progress=progress)
        except ValueError as err:
            raise UserError(f"{source}: {err}") from None
        std = None
    if crop is not None:
        images = centre_crop(images, crop)
        std = None if std is None else centre_crop(std, crop)
    return MRIResult(np.asarray(images, np.float32),
                     None if std is None else np.asarray(std, np.float32), opts, ksp.shape)


def _diffusion(args: argparse.Namespace, ksp, data: dict, calib, source: str):
    """Posterior mean magnitude and std of every slice with a diffusion prior."""
    import jax
    import jax.numpy as jnp

    from operators.mri import sense
    from recon.classical_mri import DEFAULTS
    from recon.coils.espirit import espirit
    from recon.slice_methods import (
        MRI_WARM_START,
        coil_support,
        diffusion_method,
        estimate_noise_std,
        run_in_batches,
    )
    from recon.solvers.fista import fista_l1

    ns, w = ksp.shape[0], ksp.shape[-1]
    mask = np.asarray(data["mask"], np.float32).reshape(w)
    noise_std = args.noise_std
    if noise_std is None:
        noise_std = estimate_noise_std(ksp, mask)
    warm_start = args.warm_start
    if warm_start is None:
        warm_start = MRI_WARM_START if args.method == "dds" else 0.0
    l1 = {**DEFAULTS["l1-wavelet"]}
    l1.update({k: v for k, v in (("lam", args.lam), ("iters", args.iters)) if v is not None})

    def l1_estimate(A, y):
        return fista_l1(A, y, lam=l1["lam"], iterations=l1["iters"]).x

    recon_slice = diffusion_method(argparse.Namespace(**{**vars(args), "noise_std": noise_std}),
                                   expects_complex=True, warm_start=l1_estimate,
                                   start_sigma=warm_start)
    cmask = mask if data["calib_mask"] is None else data["calib_mask"]
    calib = ksp if calib is None else calib
    try:
        maps = np.asarray(espirit(jnp.asarray(calib, jnp.complex64), mask=cmask))
    except ValueError as err:
        raise UserError(f"{source}: {err}") from None
    keys = jax.random.split(jax.random.PRNGKey(args.seed), ns)

    def one(example, m):
        y, s, key = example
        mean, std = recon_slice(sense(s, m), y, key)
        support = coil_support(s)
        return mean * support, std * support

    mean, std = run_in_batches(one, (jnp.asarray(ksp, jnp.complex64), jnp.asarray(maps), keys),
                               jnp.asarray(mask), batch=args.batch or 0, desc=args.method,
                               quiet=args.quiet)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
        raise UserError(f"{source}: {args.method} sampling produced NaN or Inf; no output "
                        "written")
    opts = {"prior": args.prior, "nfe": args.nfe, "samples": args.samples, "seed": args.seed,
            "noise_std": float(noise_std), "warm_start": float(warm_start)}
    return np.abs(mean), (std if args.samples > 1 else None), opts
