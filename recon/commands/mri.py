"""``recon mri IN.h5 --out OUT.h5``: classical reconstruction of fastMRI or ISMRMRD raw data.

Output: HDF5 with ``reconstruction`` float32 ``(slices, H, W)``, the magnitude on fastMRI's
intensity scale, at the k-space matrix size unless ``--crop``; the options used are attributes.
The file is written to a temporary name and renamed, so a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import pathlib

from recon.cli_options import lam_value as lam_value  # shared with recon ct
from recon.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    from recon.cli_options import DEFAULTS, DIFFUSION_METHODS, METHODS, add_diffusion_options
    from recon.mri_input_options import add_input_options

    p = sub.add_parser(
        "mri",
        help="MRI reconstruction (zero-filled, CG-SENSE, L1-wavelet, TV, diffusion)",
        description="Reconstructs a fastMRI-layout or ISMRMRD HDF5 raw-data file with ESPIRiT "
        "coil maps and a SENSE-model solver or a diffusion prior (dds, dps, score-mri). "
        "Regularisation weights are relative to the data scale, so the defaults work without "
        "tuning.",
    )
    p.add_argument("input", nargs="+", help="raw data: fastMRI HDF5 (kspace, mask) or ISMRMRD "
                   "HDF5; several files or a folder of .h5 files with --out-dir")
    p.add_argument("--out", default=None, help="output HDF5 file (one input)")
    p.add_argument("--out-dir", default=None, metavar="DIR",
                   help="many inputs: write DIR/<input name>.h5 each, skip inputs whose output "
                        "exists (resume), print a summary (recon.batch_mri)")
    p.add_argument("--dicom", default=None, metavar="DIR",
                   help="also write one DICOM MR series per input into DIR (recon.io.dicom)")
    p.add_argument("--method", choices=METHODS + DIFFUSION_METHODS, default="l1-wavelet",
                   help="reconstruction method (default l1-wavelet)")
    p.add_argument("--lam", type=lam_value, default=None,
                   help="relative regularisation weight, or 'auto': chosen per slice by "
                        "measurement-split validation (held-out k-space; the record goes to "
                        "/validation in the output) (defaults: " + ", ".join(
                       f"{m} {d['lam']}" for m, d in DEFAULTS.items() if "lam" in d) + ")")
    p.add_argument("--holdout", type=float, default=None,
                   help="--lam auto and dds --validate on: held-out fraction of the acquired "
                        "samples outside the calibration region, per fold, in (0, 0.5] "
                        "(default per method: cg-sense 0.2 of the points, l1-wavelet and tv 4 "
                        "folds of 0.1 of the lines, dds one fold of 0.2 of the lines)")
    p.add_argument("--validate", default=None, metavar="on|off|settings",
                   help="dds: check each slice against held-out k-space (measurement-split "
                        "validation, as --lam auto): CG-SENSE, the L1-wavelet image (dds's warm "
                        "start), the dds mean and blends of the last two are scored and the "
                        "best kept; undecided keeps the L1-wavelet image; the record goes to "
                        "/validation in the output (default on for dds; --holdout sets the "
                        "held-out fraction, default 0.2 of the lines). 'settings': also choose "
                        "dds's warm-start level (0.5x, 1x, 2x) and consistency weight (1x, 3x) "
                        "per slice (about 2x the time of dds alone, 1.6x that of 'on'; see "
                        "BENCHMARKS.md)")
    p.add_argument("--iters", type=int, default=None, help="iterations (defaults: " + ", ".join(
        f"{m} {d['iters']}" for m, d in DEFAULTS.items() if "iters" in d) + ")")
    p.add_argument("--format", choices=("auto", "fastmri", "ismrmrd"), default="auto",
                   help="input format (default: detected)")
    p.add_argument("--crop", default=None, metavar="HxW", help="centre crop of the output")
    p.add_argument("--coils", type=int, default=None, metavar="N",
                   help="compress to N virtual coils (SVD) before reconstruction")
    p.add_argument("--batch", type=int, default=None, help="slices per vmapped batch")
    add_input_options(p)
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


def run(args: argparse.Namespace) -> int:
    from recon.batch_mri import expand_inputs, run_many

    inputs = expand_inputs(args.input)
    if args.dicom is not None and not pathlib.Path(args.dicom).is_dir():
        raise UserError(f"--dicom {args.dicom}: not a directory")
    if args.out_dir is not None or len(inputs) > 1:
        return run_many(args, inputs, run_one)
    if args.out is None:
        raise UserError("--out OUT.h5 is required for one input (or --out-dir DIR)")
    return run_one(args, inputs[0], pathlib.Path(args.out))


def run_one(args: argparse.Namespace, src: pathlib.Path, out: pathlib.Path) -> int:
    """Reconstruct one input file into ``out`` (and ``--dicom``)."""
    from recon import console, interrupts
    from recon.io.output_path import check_output_file
    from recon.mri_input_options import check_input_options, load_options
    from recon.mri_reconstruction import check_options, load_raw, reconstruct_raw

    crop = _parse_crop(args.crop)
    check_output_file(out, inputs=[src])
    check_options(args)
    check_input_options(args)
    with console.timed(f"{src}: read"):
        data = load_raw(src, args.format, **load_options(args))
    interrupts.check()
    ns = data["kspace"].shape[0]
    bar = None
    if not console.progress_disabled(ns) and args.method != "zero-filled":
        from tqdm import tqdm

        bar = tqdm(total=ns, unit="slice", desc=f"recon mri {args.method}")
    try:
        result = reconstruct_raw(data, args, str(src), crop=crop,
                                 progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    with console.timed(f"{out}: write"):
        status = _write(args, src, out, crop, data, result)
    if args.dicom is not None:
        from recon.io.dicom import write_for_file

        write_for_file(args.dicom, src, data, result, args)
    return status


def _write(args, src, out, crop, data, result) -> int:
    import numpy as np

    from recon import console
    from recon.io.hdf5 import atomic_h5

    images, std, opts = result.images, result.std, result.options
    pattern = data["pattern"]
    with atomic_h5(out) as f:
        f.create_dataset("reconstruction", data=images.astype(np.float32))
        if std is not None:
            f.create_dataset("reconstruction_std", data=np.asarray(std, np.float32))
        f.attrs["method"] = args.method
        f.attrs["input"] = str(src)
        f.attrs["format"] = data["format"]
        f.attrs["acceleration"] = float(pattern.acceleration)
        f.attrs["sampling"] = pattern.kind
        f.attrs["sampling_centre"] = f"{pattern.centre[0]}x{pattern.centre[1]}"
        f.attrs["orientation"] = args.orientation
        f.attrs["combined"] = "; ".join(data["report"])
        f.attrs["coils"] = int(result.kspace_shape[1])
        f.attrs["prewhitened"] = bool(data["prewhitened"])
        f.attrs["crop"] = "" if crop is None else f"{crop[0]}x{crop[1]}"
        for k, v in opts.items():
            f.attrs[k] = v
        if result.record:
            g = f.create_group("validation")
            if args.method == "dds":
                from recon.validated_diffusion import ABOUT

                g.attrs["about"] = ABOUT
                g.attrs["reconstruction_std"] = ("the full-data DDS posterior's, whatever the "
                                                 "choice")
            else:
                g.attrs["about"] = ("measurement-split validation per slice (recon."
                                    "measurement_split): candidate weights, normalised held-out "
                                    "residuals, the noise floor, whether it decided, the "
                                    "weight used")
            for k, v in result.record.items():
                g.create_dataset(k, data=np.asarray(v))
        f.attrs["lam_relative"] = "lam" in opts
        f.attrs["intensity"] = "RSS of coil images, orthonormal inverse FFT (fastMRI)"
    n = images.shape[0]
    console.status(f"recon mri: wrote {out} ({n} slice{'s' if n != 1 else ''}, "
                   f"{images.shape[1]}x{images.shape[2]}, {args.method})")
    return 0
