"""``recon mri`` end to end against BART (``ecalib`` + ``pics``) on the same 256x256 x 8-coil data.

Both sides start from their own native file and end with an image file, each as a fresh process
(what a user runs): ours reads fastMRI HDF5 and runs ESPIRiT + the solver
(``python -m recon.cli -q mri IN.h5 --out OUT.h5 --method M``); BART (Uecker et al., Debian
package ``bart``) reads ``.cfl`` and runs ``bart ecalib -m1`` then ``bart pics``. Zero filling is
``bart fft -i -u 3`` + ``bart rss 8`` on BART's side. Iteration counts match our defaults
(CG-SENSE 50, L1-wavelet 100, TV 100); BART's regularisation weights are its own scale.

Problem: one MNI brain slice simulated without the inverse crime
(:func:`recon.simulate.brain_slice_kspace`, slice 90, 0.5 % noise), fastMRI-style 4x random
line mask with 8 % centre (as ``recon bench mri-recon``).

Protocol (DESIGN.md, Benchmarks): one warm-up round (it also fills our JAX compilation cache),
then ``--rounds`` rounds taking turns, the order rotating each round; medians and the ratio
ours / BART. Ours is timed twice: ``warm`` (the persistent compilation cache from the warm-up,
the normal case of a second run) and ``cold`` (``--no-cache``: every function compiled).
Run pinned to one core (``taskset -c 1``) with ``OMP_NUM_THREADS=1`` so both sides get one core.

PSNR (fastMRI definition against the RSS of the noise-free fully sampled coil images) is
reported for both outputs; BART's images are on its own intensity scale, so its PSNR is taken
after the least-squares scalar fit to the reference (which can only help BART).

    taskset -c 1 python -m experiments.bench_vs_bart --rounds 5 --markdown BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

METHODS = {
    # method: BART pics options (iterations as our defaults)
    "zero-filled": None,
    "cg-sense": ["-l2", "-r", "0.001", "-i", "50"],
    "l1-wavelet": ["-l1", "-r", "0.005", "-i", "100"],
    "tv": ["-R", "T:3:0:0.005", "-i", "100"],
}


def write_cfl(stem: pathlib.Path, arr: np.ndarray) -> None:
    """BART's format: ``stem.hdr`` (dimensions) + ``stem.cfl`` (complex64, column-major)."""
    dims = list(arr.shape) + [1] * (16 - arr.ndim)
    stem.with_suffix(".hdr").write_text("# Dimensions\n" + " ".join(map(str, dims)) + "\n")
    np.asarray(arr, np.complex64).ravel(order="F").tofile(stem.with_suffix(".cfl"))


def read_cfl(stem: pathlib.Path) -> np.ndarray:
    dims = [int(v) for v in stem.with_suffix(".hdr").read_text().splitlines()[1].split()]
    data = np.fromfile(stem.with_suffix(".cfl"), np.complex64)
    return data.reshape(dims, order="F")


def make_problem(work: pathlib.Path, n: int) -> np.ndarray:
    import jax

    from operators.mri import random_mask
    from recon.io import write_fastmri
    from recon.simulate import brain_slice_kspace

    d = brain_slice_kspace(90, (n, n), 8, noise=0.005, key=jax.random.PRNGKey(90))
    mask = np.asarray(random_mask(2090, n, 0.08, 4), np.float32)
    y = (np.asarray(d["kspace"]) * mask).astype(np.complex64)  # (C, H, W)
    write_fastmri(work / "in.h5", y[None], mask)
    # BART dims: 0 = readout (H), 1 = phase encode (W), 3 = coils
    write_cfl(work / "k", np.transpose(y, (1, 2, 0))[:, :, None, :])
    return np.asarray(d["target"])


def commands(work: pathlib.Path, method: str) -> dict[str, list[list[str]]]:
    ours = [sys.executable, "-m", "recon.cli", "-q", "mri", str(work / "in.h5"), "--out",
            str(work / f"ours-{method}.h5"), "--method", method]
    out = {"ours (warm cache)": [ours], "ours (--no-cache)": [[*ours[:3], "--no-cache",
                                                                 *ours[3:]]]}
    if method == "zero-filled":
        out = {"ours": [ours]}
        bart = [["bart", "fft", "-i", "-u", "3", str(work / "k"), str(work / "c")],
                ["bart", "rss", "8", str(work / "c"), str(work / f"bart-{method}")]]
    else:
        bart = [["bart", "ecalib", "-m1", str(work / "k"), str(work / "s")],
                ["bart", "pics", *METHODS[method], str(work / "k"), str(work / "s"),
                 str(work / f"bart-{method}")]]
    out["BART"] = bart
    return out


def run_chain(chain: list[list[str]], env: dict) -> float:
    t0 = time.perf_counter()
    for cmd in chain:
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def psnrs(work: pathlib.Path, method: str, target: np.ndarray) -> dict[str, float]:
    import h5py

    from recon.metrics import psnr

    with h5py.File(work / f"ours-{method}.h5") as f:
        ours = f["reconstruction"][0]
    bart = np.abs(read_cfl(work / f"bart-{method}")).reshape(target.shape)
    scale = float(np.vdot(bart, target).real / max(np.vdot(bart, bart).real, 1e-30))
    return {"ours": round(float(psnr(target[None], ours[None])), 2),
            "BART (scaled)": round(float(psnr(target[None], scale * bart[None])), 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--json", default="results/bench_vs_bart.json")
    p.add_argument("--markdown", default=None, help="e.g. BENCHMARKS.md (section replaced)")
    args = p.parse_args(argv)
    if shutil.which("bart") is None:
        print("bart is not installed (Debian: apt-get install bart)", file=sys.stderr)
        return 2
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-bart-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RECON_CACHE_DIR": str(work / "cache"),
           "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[1])}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users have byte-compiled modules
    target = make_problem(work, args.size)
    results = []
    for method in args.methods:
        cases = commands(work, method)
        for chain in cases.values():  # warm-up: caches, byte code, page cache
            run_chain(chain, env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                times[name].append(run_chain(cases[name], env))
        med = {k: statistics.median(v) for k, v in times.items()}
        results.append({"method": method, "median_s": med, "times_s": times,
                        "ratio_to_bart": {k: med[k] / med["BART"] for k in med},
                        "psnr": psnrs(work, method, target)})
        print(json.dumps(results[-1]), flush=True)
    bart_version = subprocess.run(["bart", "version"], capture_output=True, text=True).stdout
    machine = (f"{cpu_name()}, {os.cpu_count()} cores (pinned to one), Python "
               f"{platform.python_version()}, jax {jax_version()}, BART {bart_version.strip()}")
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.json).write_text(json.dumps({"machine": machine, "size": args.size,
                                                   "rounds": args.rounds, "results": results},
                                                  indent=2))
    table = markdown(results, machine, args)
    print(table)
    if args.markdown:
        replace_section(pathlib.Path(args.markdown), table)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def cpu_name() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def jax_version() -> str:
    import jax

    return jax.__version__


def markdown(results: list[dict], machine: str, args) -> str:
    lines = ["<!-- bench:vs-bart -->",
             "### `recon mri` end to end vs BART `ecalib` + `pics` "
             "(`python -m experiments.bench_vs_bart`)", "",
             f"Machine: {machine}. {args.size}x{args.size}, 8 coils, 4x, {args.rounds} rounds "
             f"after a warm-up, taking turns; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             ".", "",
             "| method | case | median s | ratio to BART | PSNR dB |", "|---|---|---:|---:|---:|"]
    for r in results:
        for case, s in r["median_s"].items():
            ps = r["psnr"]["BART (scaled)" if case == "BART" else "ours"]
            lines.append(f"| {r['method']} | {case} | {s:.2f} | {r['ratio_to_bart'][case]:.2f}x "
                         f"| {ps:.2f} |")
    lines += ["", "<!-- /bench:vs-bart -->"]
    return "\n".join(lines)


def replace_section(path: pathlib.Path, table: str) -> None:
    text = path.read_text() if path.exists() else ""
    start, end = "<!-- bench:vs-bart -->", "<!-- /bench:vs-bart -->"
    if start in text and end in text:
        text = text[: text.index(start)] + table + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + table + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
