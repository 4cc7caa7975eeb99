"""Train a diffusion prior from a JSON config; optionally export its EMA weights.

    python -m experiments.train_prior --config experiments/configs/mri-brain.json \
        --workdir runs/mri-brain --max-minutes 85 --export models/weights/mri-brain

Exactly ``recon train`` (:mod:`recon.commands.train`), so a bad config, a missing data package
or an existing output folder gets the same one-line error and exit status 2. Re-running with the
same workdir resumes from the latest checkpoint.
"""

from __future__ import annotations

import sys

from recon.cli import main as recon_main


def main(argv: list[str] | None = None) -> int:
    return recon_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
