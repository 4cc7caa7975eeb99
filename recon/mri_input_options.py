"""Command-line options that say how to read an MRI raw-data file (``recon mri`` and any front
end that reads files the same way), without importing NumPy or JAX."""

from __future__ import annotations

import argparse

from recon.errors import UserError


def add_input_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reading the input")
    g.add_argument("--single-coil", action="store_true",
                   help="fastMRI layout: read a 3-D kspace as (slices, H, W) single-coil data "
                        "(a 3-D kspace is otherwise refused unless the file says it is "
                        "single-coil: fastMRI's reconstruction_esc or receiverChannels 1)")
    g.add_argument("--encoding", type=int, default=None, metavar="N",
                   help="ISMRMRD: reconstruct encoding N of a header with several <encoding> "
                        "elements (default: the only one; several are refused)")
    g.add_argument("--repetitions", choices=("mean", "separate"), default="mean",
                   help="ISMRMRD: average the repetitions (mean, the default) or reconstruct "
                        "each (separate: output slice = repetition x slices + slice)")
    g.add_argument("--orientation", choices=("fastmri", "ismrmrd"), default="fastmri",
                   help="output image axes: fastmri (default) rows = readout, columns = phase "
                        "encode, as fastMRI's reconstruction_rss; ismrmrd rows = phase encode "
                        "(y), columns = readout (x), as ISMRMRD's ismrmrd_recon_cartesian_2d")


def check_input_options(args: argparse.Namespace) -> None:
    if args.encoding is not None and args.encoding < 0:
        raise UserError(f"--encoding must be >= 0, got {args.encoding}")


def load_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`recon.mri_reconstruction.load_raw` from the options."""
    return {"single_coil": args.single_coil, "encoding": args.encoding,
            "repetitions": args.repetitions}
