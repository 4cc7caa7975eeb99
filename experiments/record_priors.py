"""Evaluate the shipped priors against the best-tuned Gaussian filter and write the record.

    python -m experiments.record_priors --runs /work/runs --out experiments/priors_record.json

Reads each run's ``summary.jsonl`` and ``log.jsonl`` (steps, wall time, loss), evaluates
``models.load_prior(name)`` on held-out images (see ``tests/models/test_shipped_priors.py``) and
writes one JSON record with everything.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax

from models import load_prior
from models.data.brain import heldout_slices
from models.data.ellipses import EllipsesSource
from models.evaluate import compare_with_gaussian, format_rows
from recon.benchmarks.harness import machine_description

NAMES = ("ct-ellipses", "mri-brain")


def heldout(name: str):
    return EllipsesSource().heldout(4) if name == "ct-ellipses" else heldout_slices(4)


def record(runs: pathlib.Path) -> dict:
    out = {"machine": machine_description(), "priors": {}}
    for name in NAMES:
        prior = load_prior(name)
        rows = compare_with_gaussian(jax.jit(prior.__call__), heldout(name))
        print(format_rows(name, rows))
        entry = {"psnr_vs_gaussian": rows}
        run = runs / name
        if (run / "summary.jsonl").is_file():
            summaries = [json.loads(s) for s in (run / "summary.jsonl").read_text().splitlines()]
            log = [json.loads(s) for s in (run / "log.jsonl").read_text().splitlines()]
            entry.update(
                {
                    "summaries": summaries,
                    "first_logged_loss": log[0],
                    "last_logged_loss": log[-1],
                    "config": json.loads((run / "config.json").read_text()),
                }
            )
        out["priors"][name] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs", help="folder holding <name>/ run directories")
    p.add_argument("--out", default="experiments/priors_record.json")
    args = p.parse_args(argv)
    rec = record(pathlib.Path(args.runs))
    pathlib.Path(args.out).write_text(json.dumps(rec, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
