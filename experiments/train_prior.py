"""Train a diffusion prior from a JSON config; optionally export its EMA weights.

    python -m experiments.train_prior --config experiments/configs/mri-brain.json \
        --workdir runs/mri-brain --max-minutes 85 --export models/weights/mri-brain

Same as ``recon train``. Re-running with the same workdir resumes from the latest checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from models.fit import train_main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="run config JSON")
    p.add_argument("--workdir", required=True, help="checkpoints, log.jsonl and figures go here")
    p.add_argument("--steps", type=int, default=None, help="stop at this step (default: config)")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-time limit")
    p.add_argument("--export", default=None, help="write EMA weights + config.json here at the end")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = train_main(
        args.config,
        args.workdir,
        steps=args.steps,
        max_minutes=args.max_minutes,
        export=args.export,
        progress=not args.no_progress,
    )
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
