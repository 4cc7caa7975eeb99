"""``recon train --config CONFIG.json``: train (or resume) a diffusion prior.

Same as ``python -m experiments.train_prior``; the loop lives in :mod:`models.fit`. Re-running with
the same ``--workdir`` resumes bit-identically from the latest checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib

from recon.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a score-based diffusion prior from a JSON config",
        description="Trains an EDM denoiser prior (see experiments/configs/*.json), writing "
        "orbax checkpoints, log.jsonl, loss.png and samples.png to --workdir.",
    )
    p.add_argument("--config", required=True, help="run config JSON")
    p.add_argument("--workdir", default=None, help="output folder (default: runs/<name>)")
    p.add_argument("--steps", type=int, default=None, help="stop at this step (default: config)")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-time limit")
    p.add_argument("--export", default=None, help="write the EMA weights + config.json here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from models.fit import load_config, train_main

    path = pathlib.Path(args.config)
    if not path.is_file():
        raise UserError(f"config file {path} not found")
    try:
        cfg = load_config(path)
    except json.JSONDecodeError as err:
        raise UserError(f"config file {path} is not valid JSON: {err}") from err
    except ValueError as err:
        raise UserError(f"config file {path}: {err}") from err
    workdir = args.workdir or str(pathlib.Path("runs") / cfg["name"])
    if not args.verbose:  # orbax logs every save step at INFO through absl
        logging.getLogger("absl").setLevel(logging.WARNING)
    summary = train_main(
        path,
        workdir,
        steps=args.steps,
        max_minutes=args.max_minutes,
        export=args.export,
        progress=not args.no_progress,
    )
    print(json.dumps(summary, indent=2))
    return 0
