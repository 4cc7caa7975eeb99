"""The ``recon`` command line.

Each subcommand lives in ``recon/commands/<name>.py`` and provides ``register(subparsers)``, which
adds its parser and sets ``func`` to a callable taking the parsed arguments. User errors
(:class:`recon.errors.UserError`, and ``ValueError`` raised while checking inputs) print one line
and exit with status 2; nothing else is caught, so real bugs keep their traceback.
"""

from __future__ import annotations

from recon import interrupts

# first, before anything else is imported: a SIGINT/SIGTERM during start-up is only recorded
# (recon.interrupts); main() hands the caller's handlers back when it is called in-process
interrupts.install()

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402

from recon.errors import UserError  # noqa: E402

#: Subcommand modules under ``recon.commands``, in the order ``recon --help`` lists them.
COMMANDS = ("demo", "eval", "mri", "ct", "metrics", "sample", "train", "bench", "serve",
            "send")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recon",
        description="MRI and CT reconstruction with JAX operators, classical solvers and "
        "diffusion priors.",
    )
    add_global_options(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"recon.commands.{name}").register(sub)
    for command_parser in sub.choices.values():  # `recon mri IN -q` works like `recon -q mri IN`
        add_global_options(command_parser, top_level=False)
    return parser


def add_global_options(parser: argparse.ArgumentParser, top_level: bool) -> None:
    """The options of every command. They are accepted before the command name (``recon -q mri
    ...``) and after it (``recon mri ... -q``); after it their defaults are suppressed, so a value
    given before the name is kept unless the option is given again after it, which then wins."""

    def default(value):
        return value if top_level else argparse.SUPPRESS

    g = parser.add_argument_group("options of every command") if not top_level else parser
    g.add_argument("-v", "--verbose", action="count", default=default(0),
                   help="-v: progress and timings of every stage; -vv: also the debug "
                        "logs of the libraries (JAX, orbax, ...)")
    g.add_argument("-q", "--quiet", action="store_true", default=default(False),
                   help="errors only: no progress bars, no 'wrote' lines")
    g.add_argument("--no-cache", action="store_true", default=default(False),
                   help="do not use JAX's persistent compilation cache (default: on, in "
                        "$XDG_CACHE_HOME/recon-engine or ~/.cache/recon-engine; "
                        "RECON_CACHE_DIR overrides the folder)")
    g.add_argument("--max-memory", default=default(None), metavar="SIZE",
                   help="refuse inputs whose arrays need more memory than SIZE, e.g. 8G "
                        "or 500M, checked before anything is read (default: half the RAM)")
    g.add_argument("--device", choices=("auto", "cpu", "gpu", "tpu"), default=default("auto"),
                   help="JAX platform to run on (default auto: the first of tpu, gpu, cpu "
                        "present)")


def main(argv: list[str] | None = None) -> int:
    """Run ``recon ARGV``; the exit status: 0, 2 (bad input), 130/143 (SIGINT/SIGTERM)."""
    interrupts.install()  # again after an in-process call uninstalled them; keeps a pending one
    try:
        return _main(argv)
    except interrupts.Interrupted as sig:
        print(f"recon: {sig}", file=sys.stderr)
        return sig.exit_status
    finally:
        if argv is not None:  # called in-process: give the caller its handlers back
            interrupts.uninstall()
        # from the console script (argv None) ours stay until exit: a late signal is recorded
        # (or ignored after the output was committed), never raised as a traceback


def _main(argv: list[str] | None) -> int:
    from recon import compile_cache, console
    from recon.io import budget

    parser = build_parser()
    args = parser.parse_args(argv)
    console.configure(args.verbose, args.quiet)
    compile_cache.configure(enabled=not args.no_cache)
    try:
        budget.set_budget(None if args.max_memory is None else budget.parse_size(args.max_memory))
    except UserError as err:
        print(f"recon: error: {err}", file=sys.stderr)
        return 2
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
        interrupts.check()
        result = args.func(args)
        interrupts.check()  # a command that wrote nothing (metrics, train) still stops here
    except UserError as err:
        print(f"recon {args.command}: error: {err}", file=sys.stderr)
        return 2
    except interrupts.Interrupted as sig:
        print(f"recon {args.command}: {sig}", file=sys.stderr)
        return sig.exit_status
    except KeyboardInterrupt:  # a SIGINT handler other than ours (a library replaced it)
        print(f"recon {args.command}: interrupted (SIGINT); no output written", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
