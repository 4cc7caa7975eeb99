"""Interrupts and kills of real ``recon`` processes (subprocesses on tiny files).

- SIGINT at 20 moments spread over a run's life, from the interpreter's start-up (heavy
  imports) to just before the output is renamed into place: every run exits 130, prints one line
  on stderr and leaves no output and no temporary file (:mod:`recon.interrupts`).
- SIGTERM: exit 143, same promise.
- SIGKILL at random moments: the final name holds either nothing or a complete, readable output
  (the atomic writer's rename), never a partial file.
- SIGTERM during ``recon train``: exit 143, the checkpoint of the step reached is kept, and
  resuming from it ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _env(tmp_path: pathlib.Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["RECON_CACHE_DIR"] = str(tmp_path / "cache")  # outside the watched folder
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _recon(args: list[str]) -> list[str]:
    return [sys.executable, "-c", "import sys; from recon.cli import main; sys.exit(main())",
            *args]


@pytest.fixture(scope="module")
def tiny_mri(tmp_path_factory):
    """A 2-slice, 2-coil, 32x32 fastMRI-layout file, and a warm compile cache."""
    from recon.io import write_fastmri

    base = tmp_path_factory.mktemp("interrupts")
    rng = np.random.default_rng(0)
    k = (rng.standard_normal((2, 2, 32, 32)) + 1j * rng.standard_normal((2, 2, 32, 32)))
    src = base / "in.h5"
    write_fastmri(src, k.astype(np.complex64))
    work = base / "work"
    work.mkdir()
    env = _env(base)
    argv = _recon(["-q", "mri", str(src), "--out", str(work / "out.h5"), "--method", "cg-sense",
                   "--iters", "3", "--batch", "1"])
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=300)  # warm cache
    times = []
    for _ in range(2):  # the faster of two runs: a load spike must not push signals past the end
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=300)
        times.append(time.perf_counter() - t0)
        (work / "out.h5").unlink()
    seconds = min(times)
    return {"src": src, "work": work, "env": env, "argv": argv, "seconds": seconds}


def _signal_at(argv, env, delay: float, sig: int) -> tuple[int, str]:
    """Send ``sig`` ``delay`` s after the start; the exit status and stderr.

    A run that completes before the signal lands (exit 0: under a changing load a tiny run can
    be faster than the measured one) has tested nothing: its output is removed and the signal
    is sent again at 0.6x the delay, up to 4 times. A run that really carried on after the
    signal would keep failing at the earlier moments too, so this retry cannot hide that bug.
    """
    for _ in range(5):
        p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(sig)
        _, err = p.communicate(timeout=120)
        if p.returncode != 0:
            break
        pathlib.Path(argv[argv.index("--out") + 1]).unlink(missing_ok=True)
        delay *= 0.6
    return p.returncode, err.decode()


def _check_clean(rc, err, status, work, delay):
    lines = err.strip().splitlines()
    assert rc == status, (delay, rc, err[-2000:])
    assert len(lines) == 1, (delay, lines)
    assert "no output written" in lines[0] and "Traceback" not in lines[0], lines[0]
    assert list(work.iterdir()) == [], (delay, list(work.iterdir()))


def test_sigint_at_20_moments(tiny_mri):
    """20 SIGINTs from 0.15 s (start-up: the heavy imports) to 85% of a normal run's length."""
    t = tiny_mri["seconds"]
    delays = np.linspace(0.15, 0.85 * t, 20)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two processes at a time
        results = list(pool.map(lambda d: _signal_at(tiny_mri["argv"], tiny_mri["env"],
                                                     float(d), signal.SIGINT), delays))
    for delay, (rc, err) in zip(delays, results, strict=True):
        _check_clean(rc, err, 130, tiny_mri["work"], delay)
    assert len(results) == 20


def test_sigterm_exits_143(tiny_mri):
    for delay in (0.15, 0.5 * tiny_mri["seconds"]):
        rc, err = _signal_at(tiny_mri["argv"], tiny_mri["env"], delay, signal.SIGTERM)
        _check_clean(rc, err, 143, tiny_mri["work"], delay)
        assert "SIGTERM" in err


def test_sigkill_never_leaves_a_partial_file(tiny_mri):
    """SIGKILL at random moments: nothing under the final name, or a complete output."""
    rng = np.random.default_rng(1)
    work, out = tiny_mri["work"], tiny_mri["work"] / "out.h5"
    for delay in rng.uniform(0.05, 1.1 * tiny_mri["seconds"], 5):
        p = subprocess.Popen(tiny_mri["argv"], env=tiny_mri["env"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(float(delay))
        p.kill()
        p.wait(timeout=60)
        if out.exists():
            with h5py.File(out, "r") as f:
                rec = f["reconstruction"][()]
            assert rec.shape == (2, 32, 32) and np.isfinite(rec).all()
            out.unlink()
        # a kill can leave the writer's temporary file (never under the final name)
        for debris in work.iterdir():
            assert debris.name.startswith(".out.h5.") and debris.name.endswith(".tmp"), debris
            debris.unlink()


TRAIN_CONFIG = {
    "name": "tiny-sigterm",
    "model": {"complex": False, "base_channels": 8, "channel_mults": [1], "emb_dim": 16,
              "sigma_data": 0.25},
    "train": {"steps": 60, "batch_size": 4, "learning_rate": 2e-3, "warmup_steps": 5,
              "p_mean": -1.8, "p_std": 1.0, "seed": 5},
    "data": {"kind": "ellipses", "patch": 16},
    "run": {"log_every": 1, "checkpoint_every": 1000, "keep": 2, "figures": False},
}


def _logged_steps(workdir: pathlib.Path) -> int:
    log = workdir / "log.jsonl"
    if not log.exists():
        return 0
    lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
    return len(lines)


def test_sigterm_during_train_keeps_checkpoint_and_resumes_bit_identically(tmp_path):
    """SIGTERM mid-``recon train``: exit 143, one line, the checkpoint of the step reached is
    saved (``checkpoint_every`` is larger than the run, so only the interrupt path can have
    written it), and the same command resumes to a state equal, leaf by leaf, to that of an
    uninterrupted run."""
    import jax

    from models.fit import Trainer

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TRAIN_CONFIG))
    env = _env(tmp_path)

    def train(workdir):
        return _recon(["train", "--config", str(config), "--workdir", str(workdir),
                       "--no-progress"])

    part = tmp_path / "part"
    p = subprocess.Popen(train(part), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while _logged_steps(part) < 5 and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert p.poll() is None, "the run ended before it could be interrupted"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert p.returncode == 143, err.decode()[-2000:]
    assert len(lines) == 1 and "SIGTERM" in lines[0] and "kept" in lines[0], lines
    stopped_at = _logged_steps(part)
    assert 5 <= stopped_at < TRAIN_CONFIG["train"]["steps"]
    kept = Trainer(json.loads(config.read_text()), part)
    assert int(kept.state["step"]) == stopped_at  # the step reached, saved on the way out

    subprocess.run(train(part), env=env, check=True, capture_output=True, timeout=600)
    full = tmp_path / "full"
    subprocess.run(train(full), env=env, check=True, capture_output=True, timeout=600)
    resumed = jax.device_get(Trainer(json.loads(config.read_text()), part).state)
    uninterrupted = jax.device_get(Trainer(json.loads(config.read_text()), full).state)
    assert int(resumed["step"]) == int(uninterrupted["step"]) == TRAIN_CONFIG["train"]["steps"]
    leaves_a, leaves_b = jax.tree.leaves(resumed), jax.tree.leaves(uninterrupted)
    assert len(leaves_a) == len(leaves_b)
    for a, b in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
