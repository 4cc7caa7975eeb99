"""One MRI reconstruction path: raw data in, images out, for every front end.

``recon mri`` (one file or many), the streaming server and the evaluation scripts all call
:func:`load_raw` (file -> pre-processed arrays) or build the same dictionary from streamed
acquisitions, then :func:`reconstruct_raw` (arrays + options -> images), so there is one code path
to test. ``options`` is an ``argparse.Namespace`` with the option names of ``recon mri`` (a server
fills it from the same parser).

The raw-data dictionary holds ``format``, ``kspace`` ``(slices, coils, H, W)`` complex64, ``mask``
(sampling mask ``(W,)`` or ``(H, W)``; phase encode last), ``calib`` (calibration k-space of
the same shape, or ``None`` to calibrate from ``kspace``), ``calib_mask``, ``prewhitened``,
``pattern`` (:class:`recon.sampling.SamplingPattern`), ``recon_pe`` (ISMRMRD ``reconSpace`` y:
the output's phase-encode length, or ``None``) and ``report`` (what was combined, for people).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import pathlib

import numpy as np

from recon.cli_options import VALIDATE_ON, validating
from recon.errors import UserError

log = logging.getLogger(__name__)


@dataclasses.dataclass
class MRIResult:
    """Magnitude images ``(slices, H, W)`` float32 on fastMRI's intensity scale, the posterior std
    (diffusion methods with more than one sample, else ``None``), the options used, and the
    k-space actually reconstructed (after coil compression)."""

    images: np.ndarray
    std: np.ndarray | None
    options: dict
    kspace_shape: tuple[int, ...]
    record: dict = dataclasses.field(default_factory=dict)


def load_raw(path: pathlib.Path, fmt: str, *, single_coil: bool = False,
             encoding: int | None = None, repetitions: str = "mean") -> dict:
    """Read ``path`` as fastMRI or ISMRMRD, apply the raw-data pre-processing and detect the
    sampling pattern (:mod:`recon.sampling`).

    ``single_coil``: read a 3-D fastMRI ``kspace`` as ``(slices, H, W)``; ``encoding``,
    ``repetitions``: ISMRMRD only (:func:`recon.io.ismrmrd.read_ismrmrd`). What was read,
    detected and combined is logged at info level (stderr at normal verbosity).
    """
    from recon.io.fastmri import read_fastmri
    from recon.io.ismrmrd import is_ismrmrd, read_ismrmrd

    if fmt == "auto":
        fmt = "ismrmrd" if is_ismrmrd(path) else "fastmri"
    if fmt == "fastmri":
        d = read_fastmri(path, single_coil=single_coil)
        return _finish(path, fmt, d.kspace, None, None, False, None, [])
    return from_ismrmrd(read_ismrmrd(path, encoding=encoding, repetitions=repetitions), path)


def from_ismrmrd(d, path) -> dict:
    """The raw-data dictionary of assembled ISMRMRD data (:class:`recon.io.ismrmrd.IsmrmrdData`,
    from a file or a stream): noise prewhitening, readout-oversampling removal, calibration mask,
    ``reconSpace`` y, sampling detection. ``path`` names the source in messages."""
    from recon import preprocess

    report: list[str] = list(d.report)
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
        report.append(f"readout oversampling {d.oversampling} removed "
                      f"(encodedSpace x {d.encoded_matrix[0]}, reconSpace x "
                      f"{d.recon_matrix[0]})")
    cmask = np.any(calib != 0, axis=(0, 1, 2)).astype(np.float32)
    return _finish(path, "ismrmrd", ksp, calib, cmask, whitened, d.recon_matrix[1], report)


def _finish(path, fmt: str, ksp, calib, cmask, whitened: bool, recon_pe, report: list[str]):
    """Sampling detection, ``reconSpace`` y padding and the log lines shared by both formats."""
    from recon.image_grid import fit_length
    from recon.sampling import detect, sampled_positions

    pattern = detect(sampled_positions(ksp, str(path)))
    mask = pattern.mask
    if recon_pe is not None and recon_pe > ksp.shape[-1]:
        # reduced phase resolution: zero-fill k-space to reconSpace y (unmeasured lines)
        report.append(f"phase-encode k-space zero-padded from encodedSpace y {ksp.shape[-1]} to "
                      f"reconSpace y {recon_pe}")
        ksp, calib = fit_length(ksp, recon_pe), fit_length(calib, recon_pe)
        mask, cmask = fit_length(mask, recon_pe), fit_length(cmask, recon_pe)
    elif recon_pe is not None and recon_pe < ksp.shape[-1]:
        report.append(f"phase-encode field of view cropped from encodedSpace y {ksp.shape[-1]} "
                      f"to reconSpace y {recon_pe} after reconstruction")
    ns, nc, h, w = ksp.shape
    log.info("%s: %s, %d slice(s) x %d coil(s) x %dx%d; sampling %s", path,
             "ISMRMRD" if fmt == "ismrmrd" else "fastMRI layout", ns, nc, h, w,
             pattern.describe())
    for line in report:
        log.info("%s: %s", path, line)
    return {"format": fmt, "kspace": ksp, "mask": mask, "calib": calib, "calib_mask": cmask,
            "prewhitened": whitened, "pattern": pattern, "recon_pe": recon_pe,
            "report": report}


def check_options(args: argparse.Namespace) -> None:
    """Refuse option values no reconstruction can use (before any data are read)."""
    if args.iters is not None and args.iters < 1:
        raise UserError(f"--iters must be >= 1, got {args.iters}")
    if args.lam == "auto":
        if args.method not in ("cg-sense", "l1-wavelet", "tv"):
            raise UserError(f"--lam auto chooses the weight of cg-sense, l1-wavelet and tv, "
                            f"not of {args.method}")
    elif args.lam is not None and not (np.isfinite(args.lam) and args.lam >= 0):
        raise UserError(f"--lam must be a finite number >= 0, got {args.lam}")
    validate = getattr(args, "validate", None)
    if validate is not None and validate not in (*VALIDATE_ON, "off"):
        raise UserError(f"--validate must be 'on', 'off' or 'settings', got {validate!r}")
    if validate in VALIDATE_ON and args.method != "dds":
        raise UserError(f"--validate on checks dds against its classical warm start, not "
                        f"{args.method} (for a classical weight use --lam auto)")
    holdout = getattr(args, "holdout", None)
    if holdout is not None and not (np.isfinite(holdout) and 0 < holdout <= 0.5):
        raise UserError(f"--holdout must be in (0, 0.5], got {holdout}")
    if args.warm_start is not None and not (np.isfinite(args.warm_start)
                                            and args.warm_start >= 0):
        raise UserError(f"--warm-start must be a finite noise level >= 0, got {args.warm_start}")
    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    for name in ("nfe", "samples"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise UserError(f"--{name} must be >= 1, got {value}")


def output_shape(data: dict, orientation: str = "fastmri") -> tuple[int, int]:
    """``(rows, columns)`` of the images :func:`reconstruct_raw` returns before ``--crop``."""
    h, w = data["kspace"].shape[-2:]
    if data.get("recon_pe") is not None:
        w = data["recon_pe"]
    return (h, w) if orientation == "fastmri" else (w, h)


def reconstruct_raw(data: dict, args: argparse.Namespace, source: str,
                    crop: tuple[int, int] | None = None, progress=None) -> MRIResult:
    """Reconstruct every slice of ``data`` with ``args.method``; centre-crop to ``crop``.

    The images are fitted to ISMRMRD's ``reconSpace`` y (``data["recon_pe"]``), turned to
    ``args.orientation`` (``fastmri``, the default, or ``ismrmrd``: :mod:`recon.image_grid`),
    then centre-cropped to ``crop`` (rows x columns of the output). ``source`` names the input
    in error messages; ``progress(n)`` is called as slices finish (classical methods).
    """
    from recon import preprocess
    from recon.cli_options import DEFAULTS
    from recon.console import timed
    from recon.image_grid import centre_crop, fit_length, orient

    orientation = getattr(args, "orientation", None) or "fastmri"
    ksp, calib = data["kspace"], data["calib"]
    nc = ksp.shape[1]
    if args.coils is not None:
        if not 1 <= args.coils <= nc:
            raise UserError(f"{source}: --coils must be between 1 and {nc} (the file's coil "
                            f"count), got {args.coils}")
        a = preprocess.compression_matrix(ksp if calib is None else calib, args.coils, 1)
        ksp = np.einsum("ij,sj...->si...", a, ksp).astype(np.complex64)
        if calib is not None:
            calib = np.einsum("ij,sj...->si...", a, calib).astype(np.complex64)
    oh, ow = output_shape(data, orientation)
    if crop is not None and (crop[0] > oh or crop[1] > ow):
        raise UserError(f"{source}: --crop {crop[0]}x{crop[1]} is larger than the image "
                        f"{oh}x{ow}")
    with timed(f"{source}: {args.method} reconstruction"):
        if args.method not in DEFAULTS:  # a diffusion method
            record = {}
            images, std, opts = _diffusion(args, ksp, data, calib, source, record)
        elif args.method == "zero-filled":  # NumPy only: no JAX start-up for the baseline
            from recon.zero_filled import zero_filled_rss

            images, std, opts = zero_filled_rss(ksp), None, {}
            if progress is not None:
                progress(ksp.shape[0])
        else:
            from recon.classical_mri import reconstruct

            opts = {**DEFAULTS[args.method]}
            if args.lam is not None:
                opts["lam"] = args.lam
            if args.iters is not None:
                opts["iters"] = args.iters
            record: dict = {}
            try:
                images = reconstruct(ksp, data["mask"], args.method, lam=opts.get("lam"),
                                     iters=opts.get("iters"), calib=calib,
                                     calib_mask=data["calib_mask"], batch=args.batch,
                                     progress=progress,
                                     holdout=getattr(args, "holdout", None), record=record)
            except ValueError as err:
                raise UserError(f"{source}: {err}") from None
            std = None
    images = np.asarray(images, np.float32)
    std = None if std is None else np.asarray(std, np.float32)
    if data.get("recon_pe") is not None and data["recon_pe"] < images.shape[-1]:
        images = fit_length(images, data["recon_pe"])
        std = None if std is None else fit_length(std, data["recon_pe"])
    images = orient(images, orientation)
    std = None if std is None else orient(std, orientation)
    if crop is not None:
        images = centre_crop(images, crop)
        std = None if std is None else centre_crop(std, crop)
    return MRIResult(np.ascontiguousarray(images),
                     None if std is None else np.ascontiguousarray(std), opts, ksp.shape,
                     record if args.method != "zero-filled" else {})


def _diffusion(args: argparse.Namespace, ksp, data: dict, calib, source: str,
               record: dict | None = None):
    """Posterior mean magnitude and std of every slice with a diffusion prior; for validated
    dds (:func:`recon.cli_options.validating`) the chosen image per slice, its record into
    ``record``."""
    import jax
    import jax.numpy as jnp

    from operators.mri import sense
    from recon.cli_options import DEFAULTS
    from recon.coils.espirit import espirit
    from recon.sampling import calibration_region
    from recon.slice_methods import (
        MRI_WARM_START,
        coil_support,
        diffusion_method,
        estimate_noise_std,
        run_in_batches,
    )
    from recon.solvers.fista import fista_l1

    ns, nc, h, w = ksp.shape
    mask = np.asarray(data["mask"], np.float32)
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
        region, kernel = calibration_region(cmask, (h, w), nc)
        maps = np.asarray(espirit(jnp.asarray(calib, jnp.complex64), region,
                                  kernel_width=kernel))
    except ValueError as err:
        raise UserError(f"{source}: {err}") from None
    keys = jax.random.split(jax.random.PRNGKey(args.seed), ns)
    opts = {"prior": args.prior, "nfe": args.nfe, "samples": args.samples, "seed": args.seed,
            "noise_std": float(noise_std), "warm_start": float(warm_start)}
    if validating(args):
        mean, std = _validated(args, ksp, mask, maps, keys, l1, warm_start, noise_std, source,
                               record)
        opts.update(validate=args.validate or "on",
                    validation_nfe=min(args.nfe, _vd().VALIDATION_NFE),
                    validation_samples=_vd().VALIDATION_SAMPLES)
        return np.abs(mean), (std if args.samples > 1 else None), opts
    if args.method == "dds":
        opts["validate"] = "off"

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
    return np.abs(mean), (std if args.samples > 1 else None), opts


def _vd():
    from recon import validated_diffusion

    return validated_diffusion


def _validated(args, ksp, mask, maps, keys, l1, warm_start, noise_std, source, record):
    """Validated dds (:mod:`recon.validated_diffusion`) of every slice: complex images and the
    DDS posterior std, the record into ``record``."""
    import jax.numpy as jnp

    from recon.diffusion.posterior import DiffusionConfig
    from recon.slice_methods import cached_prior, coil_support, estimate_noise_std, run_in_batches

    vd = _vd()
    ns, _, h, w = ksp.shape
    holdout = getattr(args, "holdout", None)
    try:
        train, held = vd.masks(mask, (h, w), holdout)
    except ValueError as err:
        raise UserError(f"{source}: {err} (--validate off skips the validation)") from None
    cfg = DiffusionConfig(method="dds", nfe=args.nfe, n_samples=args.samples,
                          noise_std=noise_std, start_sigma=warm_start if warm_start > 0 else None)
    val_cfg = vd.validation_config(cfg)
    settings = vd.SETTINGS_GRID if args.validate == "settings" else vd.SETTINGS
    prior = cached_prior(args.prior)

    def one(example, shared):
        y, s, key = example
        m, tr, he = shared
        out = vd.validated_slice(prior, cfg, val_cfg, l1, s, y, key, m, tr, he,
                                 settings=settings)
        support = coil_support(s)
        return {**out, **{k: out[k] * support for k in ("classical", "cg", "mean", "std")}}

    out = run_in_batches(one, (jnp.asarray(ksp, jnp.complex64), jnp.asarray(maps), keys),
                         (jnp.asarray(mask), jnp.asarray(train), jnp.asarray(held)),
                         batch=args.batch or 0, desc=args.method, quiet=args.quiet)
    if not all(np.all(np.isfinite(out[k])) for k in ("mean", "std", "classical", "cg",
                                                      "residuals")):
        raise UserError(f"{source}: {args.method} sampling produced NaN or Inf; no output "
                        "written")
    sigma = (np.full(ns, float(args.noise_std)) if args.noise_std is not None
             else np.array([estimate_noise_std(ksp[i], mask) for i in range(ns)]))
    images, rec = vd.decide_all(out, np.asarray(ksp), mask, held, sigma, cfg.start_sigma,
                                settings)
    if record is not None:
        record.update(rec)
    return images, out["std"]
