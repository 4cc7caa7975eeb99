"""``recon send IN.h5 --out OUT.h5``: stream an ISMRMRD file to ``recon serve`` (or any MRD
server) and write the MRD images it returns (:mod:`recon.serving.client`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("send", help="stream an ISMRMRD file to an MRD server, keep the images",
                       description="Sends CONFIG_FILE, optional CONFIG_TEXT, the header and "
                       "every acquisition of IN.h5 to an MRD streaming server, and writes the "
                       "images it sends back as MRD images in HDF5.")
    p.add_argument("input", help="ISMRMRD HDF5 raw data")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9002)
    p.add_argument("--config", default="default",
                   help="CONFIG_FILE name: a recon mri method (default: the server's)")
    p.add_argument("--config-text", default=None, metavar="JSON",
                   help='CONFIG_TEXT, e.g. \'{"iters": 10}\'')
    p.add_argument("--out", required=True, help="output HDF5 file of MRD images")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pathlib

    from recon import console
    from recon.errors import UserError
    from recon.serving.client import read_stream, send, write_images

    src, out = pathlib.Path(args.input), pathlib.Path(args.out)
    if not src.is_file():
        raise UserError(f"{src}: no such file")
    if not out.parent.is_dir():
        raise UserError(f"{out}: the output directory {out.parent} does not exist")
    xml, acqs = read_stream(src)
    images, texts = send(xml, acqs, args.host, args.port, args.config, args.config_text,
                         timeout=args.timeout)
    errors = [t for t in texts if t.startswith("error")]
    if errors:
        raise UserError(f"server {args.host}:{args.port}: {errors[0]}")
    if not images:
        raise UserError(f"server {args.host}:{args.port}: no images came back")
    write_images(out, images)
    console.status(f"recon send: wrote {out} ({len(images)} image(s))")
    return 0
