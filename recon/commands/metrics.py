"""``recon metrics OUT.h5 REF.h5``: fastMRI NMSE / PSNR / SSIM of a reconstruction."""

from __future__ import annotations

import argparse
import pathlib

from recon.errors import UserError

REF_KEYS = ("reconstruction_rss", "reconstruction_esc", "reconstruction", "target")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics",
        help="NMSE, PSNR and SSIM of a reconstruction against a reference (fastMRI definitions)",
        description="Compares the 'reconstruction' of OUT.h5 with the reference volume of "
        "REF.h5 (reconstruction_rss, reconstruction_esc, reconstruction or target), centre-"
        "cropping both to the reference size; PSNR/SSIM use the reference volume maximum.",
    )
    p.add_argument("output", help="HDF5 file with 'reconstruction' (slices, H, W)")
    p.add_argument("reference", help="HDF5 file with the reference volume")
    p.add_argument("--key", default=None, help="dataset name in REF.h5 (default: detected)")
    p.set_defaults(func=run)


def _read(path: pathlib.Path, keys: tuple[str, ...]):
    import numpy as np

    from recon.io.budget import check_dataset
    from recon.io.fastmri import check_finite, h5_reason, open_h5

    with open_h5(path) as f:
        key = next((k for k in keys if k in f), None)
        if key is None:
            raise UserError(f"{path}: none of the datasets {', '.join(keys)} found")
        ds = f[key]
        if not hasattr(ds, "dtype"):
            raise UserError(f"{path}: '{key}' is a group, expected a dataset")
        check_dataset(path, ds, key, itemsize=8, copies=2)  # float64 metrics
        try:
            arr = np.asarray(ds[()])
        except (OSError, TypeError, ValueError) as err:
            raise UserError(f"{path}: cannot read '{key}' (truncated file?): {h5_reason(err)}"
                            ) from None
    if arr.dtype.kind not in "iuf" or arr.ndim not in (2, 3) or arr.size == 0:
        raise UserError(f"{path}: '{key}' must be a real, non-empty (slices, H, W) array, "
                        f"found dtype {arr.dtype}, shape {arr.shape}")
    check_finite(path, key, arr)
    return arr.reshape((1, *arr.shape)) if arr.ndim == 2 else arr


def check_reference(path: pathlib.Path, ref) -> None:
    """Refuse a reference the fastMRI metrics cannot score against: all zero (NMSE divides by
    ``||ref||²``), constant (no structure: SSIM and NMSE say nothing), or without a positive
    maximum (PSNR and SSIM take ``max(ref)`` as the data range). NaN/Inf were refused when it
    was read."""
    import numpy as np

    lo, hi = float(np.min(ref)), float(np.max(ref))
    if hi == 0 and lo == 0:
        raise UserError(f"{path}: the reference is all zero; NMSE, PSNR and SSIM need a "
                        "reference with signal")
    if hi == lo:
        raise UserError(f"{path}: the reference is constant ({hi:g} everywhere); NMSE, PSNR "
                        "and SSIM need a reference with structure")
    if hi <= 0:
        raise UserError(f"{path}: the reference maximum is {hi:g}; PSNR and SSIM take it as "
                        "the data range, so it must be positive (fastMRI definitions)")


def run(args: argparse.Namespace) -> int:
    from recon.image_grid import centre_crop
    from recon.metrics import fastmri_metrics

    out = _read(pathlib.Path(args.output), ("reconstruction",))
    ref = _read(pathlib.Path(args.reference), (args.key,) if args.key else REF_KEYS)
    if out.shape[0] != ref.shape[0]:
        raise UserError(f"{args.output} has {out.shape[0]} slices but {args.reference} has "
                        f"{ref.shape[0]}")
    shape = ref.shape[-2:]
    try:
        out = centre_crop(out, shape)
    except ValueError as err:
        raise UserError(f"{args.output}: {err}") from None
    check_reference(pathlib.Path(args.reference), ref)
    m = fastmri_metrics(ref, out)
    print(f"NMSE {m['NMSE']:.6g}  PSNR {m['PSNR']:.4f} dB  SSIM {m['SSIM']:.5f}  "
          f"({ref.shape[0]} slices, {shape[0]}x{shape[1]})")
    return 0
