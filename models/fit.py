"""The training run: config resolution, the loop, logs, checkpoints, figures, weight export.

A run config (JSON) has sections ``model`` (:class:`models.edm.ModelConfig`), ``train``
(:class:`models.training.TrainConfig`), ``data`` (``kind`` plus the source's constructor arguments,
see :mod:`models.data.registry`) and ``run`` (``log_every``, ``checkpoint_every``, ``keep``).
Missing keys take their defaults; the *resolved* config is written to ``<workdir>/config.json`` and
into every checkpoint. Step ``t`` draws its data and noise from keys that are pure functions of
``(train.seed, t)`` (:func:`models.training.step_keys`), so a run resumed from a checkpoint
continues bit-identically to an uninterrupted one.

``run.init_from`` names a folder of exported weights (:func:`models.checkpoints.export_weights`,
e.g. ``models/weights/ct-ellipses``) that a *new* run starts from instead of a random
initialisation (fine-tuning: parameters and EMA both start at those weights; the model configs
must match). A run that already has checkpoints resumes from them and ignores ``init_from``.

``run.distill_from`` names a folder of exported weights of a *teacher* (any architecture taking
the same channels): the run then regresses its network onto the teacher's denoiser output
instead of the clean image (:mod:`models.losses`), e.g. to train a smaller, faster network that
imitates a shipped prior. The teacher is read again on resume; the crops must be a multiple of
both networks' size multiples.

The loop stops after ``train.steps`` steps, after ``max_minutes`` of wall time, when a file
``<workdir>/STOP`` appears, or when ``should_stop()`` turns true (the command line passes its
SIGINT/SIGTERM flag, :mod:`recon.interrupts`, checked between jitted steps); in each case it
saves a final checkpoint first, so resuming continues bit-identically.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import shutil
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from models import checkpoints
from models.data.registry import make_source
from models.edm import EDMDenoiser, ModelConfig, to_channels
from models.training import (
    TrainConfig,
    init_state,
    make_mesh,
    make_train_step,
    replicate,
    shard_batch,
    step_keys,
)

log = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The ``run`` section: logging and checkpoint cadence, figures, fine-tuning start."""

    log_every: int = 25
    checkpoint_every: int = 250
    keep: int = 3
    figures: bool = True
    init_from: str | None = None
    distill_from: str | None = None


RUN_DEFAULTS = dataclasses.asdict(RunConfig())


def resolve_config(raw: Any, where: str = "config") -> dict[str, Any]:
    """Check ``raw`` against the schema (:mod:`models.config_schema`: the fields and type hints
    of :class:`ModelConfig`, :class:`TrainConfig`, :class:`RunConfig` and the data source's
    constructor), fill defaults; returns a JSON-serialisable dict. ``where`` (the file) is
    named in every message of the :class:`~models.config_schema.ConfigError` raised."""
    from models import config_schema as cs

    if not isinstance(raw, dict):
        cs.raise_problems([f"expected a JSON object with sections data, model, train, run, "
                           f"found {cs.describe(raw)}"], where)
    problems = []
    top, bad = cs.check_section(raw, [cs.Field("name", str, "prior"),
                                      cs.Field("data", dict)], where, "config",
                                extra=("model", "train", "run"))
    problems += [p.replace("config.", "", 1) for p in bad]  # top-level keys: no prefix
    if isinstance(top.get("name"), str) and not top["name"].strip():
        problems.append("name: expected a non-empty string, found \"\"")
    sections = {}
    for name, cls in (("model", ModelConfig), ("train", TrainConfig), ("run", RunConfig)):
        sections[name], bad = cs.check_section(raw.get(name, {}), cs.dataclass_fields(cls),
                                               where, name)
        problems += bad
    data, bad = _check_data(raw.get("data"), where) if "data" in raw else ({}, [])
    problems += bad
    cs.raise_problems(problems, where)
    return {
        "name": top.get("name", "prior"),
        "model": cs.build(ModelConfig, sections["model"], where, "model").to_dict(),
        "train": cs.build(TrainConfig, sections["train"], where, "train").to_dict(),
        "data": data,
        "run": dataclasses.asdict(cs.build(RunConfig, sections["run"], where, "run")),
    }


def _check_data(raw: Any, where: str) -> tuple[dict[str, Any], list[str]]:
    """The ``data`` section against the constructor of the source its ``kind`` names."""
    from models import config_schema as cs
    from models.data.registry import source_class, source_kinds

    if not isinstance(raw, dict):
        return {}, [f"data: expected an object with a 'kind', found {cs.describe(raw)}"]
    kind = raw.get("kind")
    if kind not in source_kinds():
        return {}, [f"data.kind: expected one of {', '.join(source_kinds())}, found "
                    f"{cs.describe(kind)}"]
    fields = cs.signature_fields(source_class(kind).__init__, source_class(kind).__name__)
    values, problems = cs.check_section(raw, fields, where, "data", extra=("kind",))
    return ({"kind": kind, **{k: v for k, v in values.items() if k != "kind"}}, problems)


def load_config(path: str | pathlib.Path) -> dict[str, Any]:
    """Read and check a run config file (:func:`resolve_config`); errors name the file."""
    from models import config_schema as cs

    return resolve_config(cs.read_json(path), where=str(path))


class Trainer:
    """Holds the pieces of one run; :meth:`run` trains, :meth:`state` is the current state."""

    def __init__(self, config: dict[str, Any], workdir: str | pathlib.Path):
        self.config = resolve_config(config)
        self.workdir = pathlib.Path(workdir)
        self.mc = ModelConfig.from_dict(self.config["model"])
        self.tc = TrainConfig.from_dict(self.config["train"])
        self.source = make_source(self.config["data"])
        if self.source.is_complex != self.mc.complex:
            raise ValueError(
                f"data kind {self.config['data']['kind']!r} gives "
                f"{'complex' if self.source.is_complex else 'real'} images but model.complex is "
                f"{self.mc.complex}"
            )
        self.mesh = make_mesh(self.tc.num_devices)
        self.teacher: tuple[ModelConfig, Any] | None = None
        if self.config["run"]["distill_from"] is not None:
            teacher_mc, teacher_params = self._read_weights("distill_from")
            self._check_teacher(teacher_mc)
            self.teacher = (teacher_mc, replicate(teacher_params, self.mesh))
        self.step_fn = make_train_step(
            self.mc, self.tc, self.mesh, None if self.teacher is None else self.teacher[0])
        fresh = not self.workdir.exists()
        try:
            self._init_state()
        except BaseException:
            if fresh:  # a run that could not start leaves no half-made workdir behind
                shutil.rmtree(self.workdir, ignore_errors=True)
            raise

    def _init_state(self) -> None:
        """Resume the workdir's latest checkpoint, else start at ``run.init_from``, else at a
        random initialisation."""
        self.mngr = checkpoints.make_manager(
            self.workdir / "checkpoints", self.config["run"]["keep"]
        )
        self.state = replicate(init_state(self.mc, self.tc), self.mesh)
        if self.mngr.latest_step() is not None:
            restored = checkpoints.restore(self.mngr, self.state, self.config)
            self.state = replicate(restored, self.mesh)
            log.info("resumed from step %d", int(self.state["step"]))
        elif self.config["run"]["init_from"] is not None:
            _, params = self._read_weights("init_from", expected=self.mc)
            self.state = replicate(init_state(self.mc, self.tc, params), self.mesh)
            log.info("initialised from the weights in %s", self.config["run"]["init_from"])

    def _read_weights(self, key: str, expected: ModelConfig | None = None):
        """The exported weights ``run.<key>`` names; a missing, unreadable or mismatched folder
        is a :class:`~models.config_schema.ConfigError` naming the key."""
        from models.config_schema import ConfigError

        try:
            return checkpoints.load_weights(self.config["run"][key], expected=expected)
        except (FileNotFoundError, ValueError) as err:
            raise ConfigError(f"run.{key}: {err}") from None

    def _check_teacher(self, teacher: ModelConfig) -> None:
        from models.config_schema import ConfigError

        if teacher.channels != self.mc.channels:
            raise ConfigError(f"run.distill_from: the teacher's model.complex is "
                              f"{teacher.complex}, this run's {self.mc.complex}")
        patch = self.config["data"].get("patch")
        if isinstance(patch, int) and patch % teacher.multiple:
            raise ConfigError(f"data.patch: {patch} is not a multiple of {teacher.multiple}, "
                              f"which the teacher of run.distill_from needs")

    def batch(self, step: int) -> jnp.ndarray:
        data_key, _ = step_keys(self.tc.seed, step)
        return to_channels(self.source.sample(data_key, self.tc.batch_size), self.mc.complex)

    def train_step(self, batch: jnp.ndarray, noise_key: jax.Array) -> dict[str, Any]:
        """One optimiser step on ``batch`` (distilling the teacher if there is one)."""
        if self.teacher is None:
            self.state, metrics = self.step_fn(self.state, batch, noise_key)
            return metrics
        self.state, metrics = self.step_fn(self.state, batch, noise_key, self.teacher[1])
        return metrics

    def save(self) -> None:
        checkpoints.save(self.mngr, int(self.state["step"]), self.state, self.config)

    def run(
        self, steps: int | None = None, max_minutes: float | None = None, progress: bool = True,
        should_stop: Callable[[], object] | None = None,
    ) -> dict[str, Any]:
        """Train until step ``steps`` (default ``train.steps``); returns a summary dict.

        ``should_stop()`` is asked after every step; when true the run saves a checkpoint and
        stops with ``stopped_by`` ``"signal"``."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "config.json").write_text(json.dumps(self.config, indent=2) + "\n")
        target = self.tc.steps if steps is None else int(steps)
        run_cfg = self.config["run"]
        start = int(self.state["step"])
        t0 = time.time()
        losses: list[float] = []
        logf = (self.workdir / "log.jsonl").open("a")
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=target, initial=start, desc=self.config["name"], mininterval=10)
        stop_file = self.workdir / "STOP"
        reason = "steps"
        step = start
        for step in range(start, target):
            _, noise_key = step_keys(self.tc.seed, step)
            batch = shard_batch(self.batch(step), self.mesh)
            metrics = self.train_step(batch, noise_key)
            losses.append(float(metrics["loss"]))
            done = step + 1
            if done % run_cfg["log_every"] == 0 or done == target:
                rec = {
                    "step": done,
                    "loss": float(np.mean(losses[-run_cfg["log_every"] :])),
                    "grad_norm": float(metrics["grad_norm"]),
                    "elapsed_s": round(time.time() - t0, 1),
                }
                logf.write(json.dumps(rec) + "\n")
                logf.flush()
                if bar is not None:
                    bar.set_postfix(loss=f"{rec['loss']:.4f}")
            if bar is not None:
                bar.update(1)
            if done % run_cfg["checkpoint_every"] == 0:
                self.save()
                if run_cfg["figures"]:
                    self.figures()
            if stop_file.exists():
                reason = "stop file"
                break
            if max_minutes is not None and time.time() - t0 > 60 * max_minutes:
                reason = "time limit"
                break
            if should_stop is not None and should_stop():
                reason = "signal"
                break
        if bar is not None:
            bar.close()
        logf.close()
        if int(self.state["step"]) != (self.mngr.latest_step() or -1):
            self.save()
            if run_cfg["figures"]:
                self.figures()
        return {
            "steps": int(self.state["step"]),
            "stopped_by": reason,
            "wall_s": round(time.time() - t0, 1),
            "final_loss": float(np.mean(losses[-run_cfg["log_every"] :])) if losses else None,
        }

    def denoiser(self, ema: bool = True) -> EDMDenoiser:
        params = self.state["ema" if ema else "params"]
        return EDMDenoiser(self.mc, jax.device_get(params))

    def figures(self) -> None:
        """``loss.png`` and ``samples.png``; a failure is logged and never stops training."""
        try:
            self._figures()
        except Exception:  # figures are a convenience, the run must go on
            log.exception("could not draw figures")

    def _figures(self) -> None:
        """``loss.png`` (log-scale loss curve) and ``samples.png`` (held-out denoising, samples)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:  # figures are a convenience; training goes on without them
            return
        recs = [json.loads(line) for line in (self.workdir / "log.jsonl").read_text().splitlines()]
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.semilogy([r["step"] for r in recs], [r["loss"] for r in recs])
        ax.set_xlabel("step")
        ax.set_ylabel("EDM loss (running mean)")
        ax.set_title(self.config["name"])
        fig.tight_layout()
        fig.savefig(self.workdir / "loss.png", dpi=80)
        plt.close(fig)
        if not hasattr(self, "_fig_cache"):
            mc = self.mc
            fn = jax.jit(lambda p, x, s: EDMDenoiser(mc, p)(x, s))
            self._fig_cache = (fn, self.source.heldout(1)[0])
        fn, clean = self._fig_cache
        ema = self.state["ema"]

        def den(x, s):
            return fn(ema, x, jnp.asarray(s, jnp.float32))

        den.config = self.mc
        key = jax.random.key(0)
        sigmas = (0.05, 0.1, 0.2, 0.5)
        samples = euler_samples(den, key, 3, 64)
        fig, axes = plt.subplots(3, len(sigmas) + 1, figsize=(2.2 * (len(sigmas) + 1), 6.6))
        show = jnp.abs if self.mc.complex else jnp.real  # magnitude of complex images
        axes[0, 0].imshow(show(clean), cmap="gray", vmin=0, vmax=1)
        axes[0, 0].set_title("held-out")
        for i, s in enumerate(sigmas):
            k = jax.random.fold_in(key, i)
            noise = jax.random.normal(k, (*clean.shape, 2), jnp.float32) * s
            noisy = clean + (
                jax.lax.complex(noise[..., 0], noise[..., 1])
                if den.config.complex
                else noise[..., 0]
            )
            axes[1, i + 1].imshow(show(noisy), cmap="gray", vmin=0, vmax=1)
            axes[1, i + 1].set_title(f"noisy s={s}")
            axes[2, i + 1].imshow(
                show(den(noisy.astype(clean.dtype), s)), cmap="gray", vmin=0, vmax=1
            )
            axes[2, i + 1].set_title("D(x, s)")
        for j in (1, 2):
            axes[j, 0].imshow(show(samples[j]), cmap="gray", vmin=0, vmax=1)
        axes[1, 0].set_title("samples")
        for a in axes.flat:
            a.axis("off")
        fig.tight_layout()
        fig.savefig(self.workdir / "samples.png", dpi=70)
        plt.close(fig)


def euler_samples(den: EDMDenoiser, key: jax.Array, n: int, size: int, steps: int = 18):
    """Unconditional samples by the deterministic EDM Euler/probability-flow ODE (figure only)."""
    from models.schedules import karras_sigmas

    sig = karras_sigmas(steps, 0.002, 80.0 * den.config.sigma_data / 0.5)
    shape = (n, size, size)
    x = jax.random.normal(key, (*shape, 2), jnp.float32) * sig[0]
    x = jax.lax.complex(x[..., 0], x[..., 1]) if den.config.complex else x[..., 0]
    for i in range(steps):
        d = (x - den(x, sig[i])) / sig[i]
        x = x + (sig[i + 1] - sig[i]) * d
    return x


def train_main(
    config_path: str | pathlib.Path,
    workdir: str | pathlib.Path,
    steps: int | None = None,
    max_minutes: float | None = None,
    export: str | pathlib.Path | None = None,
    progress: bool = True,
    should_stop: Callable[[], object] | None = None,
) -> dict[str, Any]:
    """Train (or resume) the run of ``config_path`` in ``workdir``; export EMA weights if asked
    (not when ``should_stop`` ended the run: an interrupted run keeps its checkpoint only).

    The summary (steps, wall time, final loss, stop reason) is appended to
    ``<workdir>/summary.jsonl`` and returned.
    """
    trainer = Trainer(load_config(config_path), workdir)
    summary = trainer.run(steps=steps, max_minutes=max_minutes, progress=progress,
                          should_stop=should_stop)
    summary["config"] = str(config_path)
    if export is not None and summary["stopped_by"] != "signal":
        checkpoints.export_weights(
            export,
            jax.device_get(trainer.state["ema"]),
            trainer.mc,
            extra={
                "name": trainer.config["name"],
                "resolved_config": trainer.config,
                "trained_steps": summary["steps"],
            },
        )
        summary["exported_to"] = str(export)
    with (pathlib.Path(workdir) / "summary.jsonl").open("a") as f:
        f.write(json.dumps(summary) + "\n")
    return summary
