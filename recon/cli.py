"""The ``recon`` command line.

Each subcommand lives in ``recon/commands/<name>.py`` and provides ``register(subparsers)``, which
adds its parser and sets ``func`` to a callable taking the parsed arguments. User errors
(:class:`recon.errors.UserError`, and ``ValueError`` raised while checking inputs) print one line
and exit with status 2; nothing else is caught, so real bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from recon.errors import UserError

#: Subcommand modules under ``recon.commands``, in the order ``recon --help`` lists them.
COMMANDS = ("demo", "eval", "mri", "ct", "metrics", "sample", "train", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recon",
        description="MRI and CT reconstruction with JAX operators, classical solvers and "
        "diffusion priors.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    parser.add_argument(
        "--device", choices=("auto", "cpu", "gpu", "tpu"), default="auto",
        help="JAX platform to run on (default auto: the first of tpu, gpu, cpu present)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"recon.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.ERROR if args.quiet else (logging.DEBUG if args.verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(message)s")
    # JAX logs a warning for every accelerator plugin it cannot find; not the user's concern.
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.ERROR)
    if args.device != "auto":
        import jax

        try:
            device = jax.devices(args.device)[0]
        except RuntimeError:
            print(f"recon: error: --device {args.device} is not available on this machine",
                  file=sys.stderr)
            return 2
        jax.config.update("jax_default_device", device)
    try:
        result = args.func(args)
    except UserError as err:
        print(f"recon {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"recon {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
