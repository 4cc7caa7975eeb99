"""Training throughput and denoising quality per CPU-minute for candidate prior backbones.

    taskset -c 0 python -m experiments.bench_training ct --minutes 8 --out bench-training-ct.json
    taskset -c 0 python -m experiments.bench_training mri --minutes 8 --out bench-training-mri.json

For each candidate network (:data:`CANDIDATES`), one run of the real training loop
(:class:`models.fit.Trainer`) on *full* images (CT: 128x128 dival-style ellipses; MRI: 256x256
complex brain planes) for the same wall time, then:

- training images per second: images of the steps after the first log interval (compilation
  excluded) divided by their wall time, from the run's ``log.jsonl``;
- the forward time of ``D(x, sigma)`` on one full image (jit-compiled, median of 5);
- held-out denoising PSNR at sigma 0.05 / 0.1 / 0.2 of the EMA weights and of the raw weights
  (:func:`models.evaluate.compare_with_gaussian`, the same held-out images and noise as the
  shipped priors' table in ``experiments/PRIORS.md``).

Run it pinned to one core (``taskset -c 0``): every figure is per core. The JSON has one row per
candidate, and the markdown table printed at the end goes to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np

from models.edm import EDMDenoiser, ModelConfig
from models.evaluate import compare_with_gaussian
from models.fit import Trainer

#: candidate backbones: the shipped U-Net design and space-to-depth U-Nets with attention
CANDIDATES = {
    "unet-32 (shipped design)": {"architecture": "unet", "base_channels": 32,
                                 "channel_mults": [1, 2, 2]},
    "stem2-32 (1,2,2,2) attn": {"architecture": "stem-unet", "stem": 2, "base_channels": 32,
                                "channel_mults": [1, 2, 2, 2], "attention_heads": 4},
    "stem2-24 (1,2,4,4) attn": {"architecture": "stem-unet", "stem": 2, "base_channels": 24,
                                "channel_mults": [1, 2, 4, 4], "attention_heads": 4},
    "stem4-64 (1,2,2) attn": {"architecture": "stem-unet", "stem": 4, "base_channels": 64,
                              "channel_mults": [1, 2, 2], "attention_heads": 4},
}

PRIOR_SETUP = {
    "ct": {"model": {"complex": False, "sigma_data": 0.25},
           "data": {"kind": "ellipses", "size": 128, "patch": 128}, "batch_size": 8, "size": 128},
    "mri": {"model": {"complex": True, "sigma_data": 0.22},
            "data": {"kind": "brain", "patch": 256}, "batch_size": 4, "size": 256},
}


def run_config(prior: str, model: dict, lr: float) -> dict:
    setup = PRIOR_SETUP[prior]
    return {
        "name": f"bench-{prior}",
        "model": {**setup["model"], **model},
        "train": {"steps": 1_000_000, "batch_size": setup["batch_size"], "learning_rate": lr,
                  "warmup_steps": 50, "ema_decay": 0.999, "p_mean": -1.8, "p_std": 1.4,
                  "seed": 0},
        "data": setup["data"],
        "run": {"log_every": 10, "checkpoint_every": 1_000_000, "keep": 1, "figures": False},
    }


def images_per_second(log_path: pathlib.Path, batch: int) -> float:
    recs = [json.loads(line) for line in log_path.read_text().splitlines()]
    if len(recs) < 2:
        return float("nan")
    first, last = recs[0], recs[-1]
    return (last["step"] - first["step"]) * batch / max(last["elapsed_s"] - first["elapsed_s"],
                                                        1e-9)


def forward_ms(den: EDMDenoiser, size: int) -> float:
    x = jnp.zeros((size, size), jnp.complex64 if den.config.complex else jnp.float32)
    f = jax.jit(den.__call__)
    f(x, 0.1).block_until_ready()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        f(x, 0.1).block_until_ready()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def bench_candidate(prior: str, name: str, minutes: float, workdir: pathlib.Path,
                    lr: float) -> dict:
    cfg = run_config(prior, CANDIDATES[name], lr)
    shutil.rmtree(workdir, ignore_errors=True)
    trainer = Trainer(cfg, workdir)
    summary = trainer.run(max_minutes=minutes, progress=False)
    batch = cfg["train"]["batch_size"]
    clean = trainer.source.heldout(4)
    row = {"candidate": name, "model": cfg["model"], "steps": summary["steps"],
           "wall_s": summary["wall_s"], "final_loss": summary["final_loss"],
           "images_per_s": round(images_per_second(workdir / "log.jsonl", batch), 3),
           "parameters": int(sum(np.size(p) for p in jax.tree.leaves(trainer.state["params"])))}
    for which in ("ema", "params"):
        den = EDMDenoiser(ModelConfig.from_dict(cfg["model"]),
                          jax.device_get(trainer.state[which]))
        rows = compare_with_gaussian(den, clean)
        row[f"denoise_{which}"] = {f"{r['sigma']:.2f}": r["psnr_prior"] for r in rows}
        row["gaussian"] = {f"{r['sigma']:.2f}": r["psnr_gaussian"] for r in rows}
    row["forward_ms"] = round(forward_ms(den, PRIOR_SETUP[prior]["size"]), 1)
    return row


def markdown(prior: str, rows: list[dict], minutes: float) -> str:
    base = rows[0]["images_per_s"]
    size = PRIOR_SETUP[prior]["size"]
    out = [f"**Training throughput, {prior.upper()} prior, full {size}x{size} images, "
           f"{minutes:g} minutes of training each on one core** (held-out denoising PSNR at "
           "sigma 0.1 of the EMA / raw weights after that time; oracle Gaussian "
           f"{rows[0]['gaussian']['0.10']:.2f} dB)", "",
           "| network | parameters | forward, 1 image | train images/s | ratio | steps | "
           "denoising EMA | raw |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['candidate']} | {r['parameters']:,} | {r['forward_ms']:.0f} ms | "
                   f"{r['images_per_s']:.3f} | {r['images_per_s'] / base:.2f}x | {r['steps']} | "
                   f"{r['denoise_ema']['0.10']:.2f} dB | {r['denoise_params']['0.10']:.2f} dB |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("prior", choices=sorted(PRIOR_SETUP))
    p.add_argument("--minutes", type=float, default=8.0, help="training wall time per candidate")
    p.add_argument("--candidates", nargs="*", default=list(CANDIDATES), choices=list(CANDIDATES))
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--workdir", default="/tmp/bench-training")
    p.add_argument("--out", default=None, help="JSON results file")
    args = p.parse_args(argv)
    rows = []
    for name in args.candidates:
        row = bench_candidate(args.prior, name, args.minutes,
                              pathlib.Path(args.workdir) / f"{args.prior}-{len(rows)}", args.lr)
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    print(markdown(args.prior, rows, args.minutes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
