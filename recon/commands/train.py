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
    from recon import interrupts
    from recon.io.output_path import check_output_dir

    path = pathlib.Path(args.config)
    if not path.is_file():
        raise UserError(f"config file {path} not found")
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps must be >= 1, got {args.steps}")
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise UserError(f"--max-minutes must be positive, got {args.max_minutes}")
    from models.checkpoints import ConfigMismatchError
    from models.config_schema import ConfigError
    from models.fit import load_config, train_main

    try:
        cfg = load_config(path)  # the schema check: one line naming the file and the key
    except ConfigError as err:
        raise UserError(str(err)) from None
    except ValueError as err:
        raise UserError(f"config file {path}: {err}") from None
    workdir = args.workdir or str(pathlib.Path("runs") / cfg["name"])
    check_output_dir(workdir, inputs=[path], option="--workdir")
    if args.export is not None:
        check_output_dir(args.export, inputs=[path, workdir], option="--export")
    if not args.verbose:  # orbax logs every save step at INFO through absl
        logging.getLogger("absl").setLevel(logging.WARNING)
    interrupts.check()
    try:
        summary = train_main(
            path,
            workdir,
            steps=args.steps,
            max_minutes=args.max_minutes,
            export=args.export,
            progress=not args.no_progress,
            should_stop=interrupts.pending,
        )
    except (ConfigError, ConfigMismatchError) as err:
        # run.init_from / run.distill_from missing or mismatched, or a --workdir whose
        # checkpoints belong to another architecture
        raise UserError(str(err)) from None
    # SIGINT/SIGTERM: the loop saved the step it reached; resuming continues bit-identically
    interrupts.check(kept=f"checkpoint of step {summary['steps']} kept in {workdir}; run the "
                          "same command to resume")
    print(json.dumps(summary, indent=2))
    return 0
