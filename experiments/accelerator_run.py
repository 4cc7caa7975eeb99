"""Train one prior to a wall-time budget on whatever device JAX finds (the GPU path of issue 15).

    python -m experiments.accelerator_run \
        --config experiments/configs/accelerator/ct-ellipses.json \
        --minutes 10 --out runs/accelerator

Three stages, all written under ``OUT/<name>/``:

1. **Probe.** ``--probe-steps`` training steps of the config in a scratch folder; the step time
   is the median of the steps after the first (which pays for compilation).
2. **Budget.** A cosine learning-rate decay must know its length, and a wall-time stop in the
   middle of it leaves the rate high. So the run is planned to end by itself inside the budget:
   ``steps = floor(0.9 * (60 * minutes - compile_s) / step_s)`` (capped by the config's
   ``train.steps``), ``decay_steps = steps - warmup_steps``, and ``minutes`` stays as a hard stop.
   The planned config is written to ``OUT/<name>/config.json`` and is a normal training config:
   ``python -m experiments.train_prior --config OUT/<name>/config.json`` reruns it anywhere.
3. **Train, export, denoise.** :func:`models.fit.train_main` trains in ``OUT/<name>/run`` and
   exports the EMA weights in the shipped format to ``OUT/weights/<name>`` (what
   ``RECON_WEIGHTS_DIR=OUT/weights`` loads); then the held-out denoising table of
   ``experiments/PRIORS.md`` (:func:`models.evaluate.compare_with_gaussian`) for the new weights.

``OUT/<name>/summary.json`` holds the device, the probe, the plan, the training summary and the
denoising rows. Reconstruction quality (the shipping criterion) is measured separately by
``experiments/eval_diffusion.py``; ``experiments/train_on_accelerator.sh`` runs both.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import shutil
import time

import jax
import numpy as np

from models.checkpoints import load_weights
from models.edm import EDMDenoiser
from models.evaluate import compare_with_gaussian
from models.fit import Trainer, load_config, train_main
from models.training import shard_batch, step_keys


def probe_step_time(config: dict, workdir: pathlib.Path, steps: int) -> dict:
    """Seconds per training step (median after the first) and the first step's time."""
    cfg = json.loads(json.dumps(config))
    cfg["run"].update({"checkpoint_every": 10**9, "figures": False, "init_from": None})
    shutil.rmtree(workdir, ignore_errors=True)
    trainer = Trainer(cfg, workdir)
    times = []
    for step in range(steps):
        t = time.perf_counter()
        batch = shard_batch(trainer.batch(step), trainer.mesh)
        metrics = trainer.train_step(batch, step_keys(0, step)[1])
        jax.block_until_ready(metrics["loss"])
        times.append(time.perf_counter() - t)
    shutil.rmtree(workdir, ignore_errors=True)
    return {"steps": steps, "first_s": round(times[0], 3),
            "step_s": float(np.median(times[1:])) if steps > 1 else times[0]}


def plan(config: dict, probe: dict, minutes: float) -> dict:
    """The config with ``train.steps`` and ``train.decay_steps`` fitted to the budget."""
    tc = config["train"]
    usable = max(60.0 * minutes - probe["first_s"], 0.0)
    steps = min(int(tc["steps"]), max(math.floor(0.9 * usable / probe["step_s"]), 1))
    warm = min(int(tc.get("warmup_steps", 0)), max(steps - 1, 0))
    out = json.loads(json.dumps(config))
    out["train"].update({"steps": steps, "warmup_steps": warm, "decay_steps": steps - warm})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="training config JSON (train.steps: cap)")
    p.add_argument("--minutes", type=float, default=10.0, help="wall-time budget of the training")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--probe-steps", type=int, default=20)
    p.add_argument("--heldout", type=int, default=4, help="held-out images for denoising")
    args = p.parse_args(argv)

    config = load_config(args.config)
    name = config["name"]
    base = pathlib.Path(args.out) / name
    base.mkdir(parents=True, exist_ok=True)
    device = str(jax.devices()[0].device_kind)
    probe = probe_step_time(config, base / "probe", args.probe_steps)
    planned = plan(config, probe, args.minutes)
    (base / "config.json").write_text(json.dumps(planned, indent=2) + "\n")
    print(f"{name}: {device}, {probe['step_s'] * 1e3:.1f} ms/step, planned "
          f"{planned['train']['steps']} steps in {args.minutes:g} min", flush=True)

    weights = pathlib.Path(args.out) / "weights" / name
    t0 = time.time()
    training = train_main(base / "config.json", base / "run", max_minutes=args.minutes,
                          export=str(weights), progress=False)
    training["wall_s_with_export"] = round(time.time() - t0, 1)

    den = EDMDenoiser(*load_weights(weights))
    clean = Trainer(planned, base / "run").source.heldout(args.heldout)
    rows = compare_with_gaussian(den, clean)
    summary = {"name": name, "device": device, "jax": jax.__version__, "probe": probe,
               "planned_steps": planned["train"]["steps"], "training": training,
               "weights": str(weights), "denoising": rows}
    (base / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
