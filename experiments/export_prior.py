"""Export the EMA weights of a training run's latest checkpoint as a shipped-prior folder.

    python -m experiments.export_prior --workdir /path/to/runs/mri-brain \
        --out models/weights/mri-brain

Writes ``params.msgpack`` and ``config.json`` (model config, resolved run config, step) that
:func:`models.load_prior` reads. Works while the run is still training (reads the last completed
checkpoint; orbax never exposes a half-written one).
"""

from __future__ import annotations

import argparse
import json
import pathlib

import jax

from models import checkpoints
from models.fit import Trainer


def export(workdir: str, out: str) -> dict:
    cfg = json.loads((pathlib.Path(workdir) / "config.json").read_text())
    mngr = checkpoints.make_manager(pathlib.Path(workdir) / "checkpoints")
    step = mngr.latest_step()
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {workdir}")
    stored = checkpoints.read_config(mngr, step)
    if stored != cfg:
        raise ValueError(f"{workdir}/config.json differs from the config stored in the checkpoint")
    trainer = Trainer(stored, workdir)  # restores the latest checkpoint into the right structure
    ema = jax.device_get(trainer.state["ema"])
    checkpoints.export_weights(
        out,
        ema,
        trainer.mc,
        extra={"name": stored["name"], "resolved_config": stored, "trained_steps": int(step)},
    )
    return {"step": int(step), "out": out}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    print(json.dumps(export(args.workdir, args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
