"""``recon serve``: the MRD streaming reconstruction server (:mod:`recon.serving.server`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="MRD (ISMRMRD) streaming reconstruction server for scanners",
        description="Listens for MRD streaming clients (Gadgetron / python-ismrmrd-server "
        "protocol): CONFIG_FILE names the recon mri method, CONFIG_TEXT may carry JSON "
        "options, then the XML header and the acquisitions; one MRD image per slice is sent "
        "back as each slice finishes, then CLOSE.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=9002, help="TCP port (default 9002; 0 picks a "
                   "free one, printed at start)")
    p.add_argument("--workers", type=int, default=2,
                   help="slices reconstructed at once, over all connections (default 2)")
    p.add_argument("--method", default=None,
                   help="method when the client's config is 'default' (default l1-wavelet)")
    p.add_argument("--dicom", default=None, metavar="DIR",
                   help="also write one DICOM series per session into DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import pathlib

    from recon import console
    from recon.errors import UserError
    from recon.serving.server import ReconServer

    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    if args.dicom is not None and not pathlib.Path(args.dicom).is_dir():
        raise UserError(f"--dicom {args.dicom}: not a directory")
    base = {} if args.method is None else {"method": args.method}
    if args.method is not None:
        from recon.serving.config import options

        options("default", None, base)
    logging.getLogger("recon.serving").setLevel(logging.INFO)
    try:
        server = ReconServer(args.host, args.port, args.workers, base, args.dicom)
    except OSError as err:
        raise UserError(f"cannot listen on {args.host}:{args.port}: "
                        f"{err.strerror or err}") from None
    host, port = server.address
    console.status(f"recon serve: listening on {host}:{port}")
    try:
        server.serve_forever()
    finally:
        server.shutdown()
    return 0
