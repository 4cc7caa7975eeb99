"""``recon mri IN.h5 --out OUT.h5``: classical reconstruction of fastMRI or ISMRMRD raw data.

Output: HDF5 with ``reconstruction`` float32 ``(slices, H, W)``, the magnitude on fastMRI's
intensity scale, at the k-space matrix size unless ``--crop``; the options used are attributes.
The file is written to a temporary name and renamed, so a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import pathlib

from recon.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    from recon.classical_mri import DEFAULTS, METHODS
    from recon.slice_methods import DIFFUSION_METHODS, add_diffusion_options

    p = sub.add_parser(
        "mri",
        help="MRI reconstruction (zero-filled, CG-SENSE, L1-wavelet, TV, diffusion)",
        description="Reconstructs a fastMRI-layout or ISMRMRD HDF5 raw-data file with ESPIRiT "
        "coil maps and a SENSE-model solver or a diffusion prior (dds, dps, score-mri). "
        "Regularisation weights are relative to the data scale, so the defaults work without "
        "tuning.",
    )
    p.add_argument("input", help="raw data: fastMRI HDF5 (kspace, mask) or ISMRMRD HDF5")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--method", choices=METHODS + DIFFUSION_METHODS, default="l1-wavelet",
                   help="reconstruction method (default l1-wavelet)")
    p.add_argument("--lam", type=float, default=None,
                   help="relative regularisation weight (defaults: " + ", ".join(
                       f"{m} {d['lam']}" for m, d in DEFAULTS.items() if "lam" in d) + ")")
    p.add_argument("--iters", type=int, default=None, help="iterations (defaults: " + ", ".join(
        f"{m} {d['iters']}" for m, d in DEFAULTS.items() if "iters" in d) + ")")
    p.add_argument("--format", choices=("auto", "fastmri", "ismrmrd"), default="auto",
                   help="input format (default: detected)")
    p.add_argument("--crop", default=None, metavar="HxW", help="centre crop of the output")
    p.add_argument("--coils", type=int, default=None, metavar="N",
                   help="compress to N virtual coils (SVD) before reconstruction")
    p.add_argument("--batch", type=int, default=None, help="slices per vmapped batch")
    add_diffusion_options(p, default_prior="mri-brain", batch_option=False)
    p.add_argument("--warm-start", type=float, default=None, metavar="SIGMA",
                   help="diffusion methods: start every sample from the L1-wavelet "
                        "reconstruction (--lam, --iters) noised to level SIGMA instead of from "
                        "pure noise; 0 starts from noise (default: 0.25 for dds, chosen on "
                        "validation slices in BENCHMARKS.md; 0 for dps and score-mri)")
    p.set_defaults(func=run)


def _parse_crop(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--crop must look like 320x320, got {text!r}") from None
    if h < 1 or w < 1:
        raise UserError(f"--crop sizes must be positive, got {text!r}")
    return h, w


def load(path: pathlib.Path, fmt: str) -> dict:
    """Read ``path`` as fastMRI or ISMRMRD and apply the raw-data pre-processing."""
    import numpy as np

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


def run(args: argparse.Namespace) -> int:
    import logging

    import numpy as np
    from tqdm import tqdm

    from recon import preprocess
    from recon.classical_mri import DEFAULTS, reconstruct

    src = pathlib.Path(args.input)
    out = pathlib.Path(args.out)
    crop = _parse_crop(args.crop)
    if not out.parent.exists():
        raise UserError(f"{out}: the output directory {out.parent} does not exist")
    if args.iters is not None and args.iters < 1:
        raise UserError(f"--iters must be >= 1, got {args.iters}")
    if args.lam is not None and not (np.isfinite(args.lam) and args.lam >= 0):
        raise UserError(f"--lam must be a finite number >= 0, got {args.lam}")
    if args.warm_start is not None and not (np.isfinite(args.warm_start)
                                            and args.warm_start >= 0):
        raise UserError(f"--warm-start must be a finite noise level >= 0, got {args.warm_start}")
    if args.batch is not None and args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    data = load(src, args.format)
    ksp, calib = data["kspace"], data["calib"]
    ns, nc, h, w = ksp.shape
    if args.coils is not None:
        if not 1 <= args.coils <= nc:
            raise UserError(f"{src}: --coils must be between 1 and {nc} (the file's coil "
                            f"count), got {args.coils}")
        a = preprocess.compression_matrix(ksp if calib is None else calib, args.coils, 1)
        ksp = np.einsum("ij,sj...->si...", a, ksp).astype(np.complex64)
        if calib is not None:
            calib = np.einsum("ij,sj...->si...", a, calib).astype(np.complex64)
    if crop is not None and (crop[0] > h or crop[1] > w):
        raise UserError(f"{src}: --crop {crop[0]}x{crop[1]} is larger than the image {h}x{w}")
    if args.method not in DEFAULTS:  # a diffusion method
        images, std, opts = _diffusion(args, ksp, data, calib)
        return _write(args, src, out, crop, data, ksp, images, std, opts)
    opts = {**DEFAULTS[args.method]}
    if args.lam is not None:
        opts["lam"] = args.lam
    if args.iters is not None:
        opts["iters"] = args.iters
    bar = tqdm(total=ns, unit="slice", desc=f"recon mri {args.method}",
               disable=logging.getLogger().level > logging.INFO or ns < 2)
    try:
        images = reconstruct(ksp, data["mask"], args.method, lam=opts.get("lam"),
                             iters=opts.get("iters"), calib=calib,
                             calib_mask=data["calib_mask"], batch=args.batch,
                             progress=bar.update)
    except ValueError as err:
        raise UserError(f"{src}: {err}") from None
    finally:
        bar.close()
    return _write(args, src, out, crop, data, ksp, images, None, opts)


def _diffusion(args: argparse.Namespace, ksp, data: dict, calib):
    """Posterior mean magnitude and std of every slice with a diffusion prior."""
    import jax
    import jax.numpy as jnp
    import numpy as np

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
    if args.noise_std is None:
        args.noise_std = estimate_noise_std(ksp, mask)
    if args.warm_start is None:
        args.warm_start = MRI_WARM_START if args.method == "dds" else 0.0
    l1 = {**DEFAULTS["l1-wavelet"]}
    l1.update({k: v for k, v in (("lam", args.lam), ("iters", args.iters)) if v is not None})

    def l1_estimate(A, y):
        return fista_l1(A, y, lam=l1["lam"], iterations=l1["iters"]).x

    recon_slice = diffusion_method(args, expects_complex=True, warm_start=l1_estimate,
                                   start_sigma=args.warm_start)
    cmask = mask if data["calib_mask"] is None else data["calib_mask"]
    calib = ksp if calib is None else calib
    try:
        maps = np.asarray(espirit(jnp.asarray(calib, jnp.complex64), mask=cmask))
    except ValueError as err:
        raise UserError(f"{args.input}: {err}") from None
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
        raise UserError(f"{args.input}: {args.method} sampling produced NaN or Inf; no output "
                        "written")
    opts = {"prior": args.prior, "nfe": args.nfe, "samples": args.samples, "seed": args.seed,
            "noise_std": float(args.noise_std), "warm_start": float(args.warm_start)}
    return np.abs(mean), (std if args.samples > 1 else None), opts


def _write(args, src, out, crop, data, ksp, images, std, opts) -> int:
    import numpy as np

    from recon.classical_mri import centre_crop
    from recon.io.hdf5 import atomic_h5

    if crop is not None:
        images = centre_crop(images, crop)
        std = None if std is None else centre_crop(std, crop)
    w = ksp.shape[-1]
    with atomic_h5(out) as f:
        f.create_dataset("reconstruction", data=images.astype(np.float32))
        if std is not None:
            f.create_dataset("reconstruction_std", data=np.asarray(std, np.float32))
        f.attrs["method"] = args.method
        f.attrs["input"] = str(src)
        f.attrs["format"] = data["format"]
        f.attrs["acceleration"] = float(w / max(float(data["mask"].sum()), 1.0))
        f.attrs["coils"] = int(ksp.shape[1])
        f.attrs["prewhitened"] = bool(data["prewhitened"])
        f.attrs["crop"] = "" if crop is None else f"{crop[0]}x{crop[1]}"
        for k, v in opts.items():
            f.attrs[k] = v
        f.attrs["lam_relative"] = "lam" in opts
        f.attrs["intensity"] = "RSS of coil images, orthonormal inverse FFT (fastMRI)"
    print(f"recon mri: wrote {out} ({images.shape[0]} slices, {images.shape[1]}x"
          f"{images.shape[2]}, {args.method})")
    return 0
