"""Forward-pass time of the shipped priors' denoisers ``D(x, sigma)`` (jit-compiled, CPU or GPU).

    python -m experiments.bench_prior_forward --markdown BENCHMARKS.md

Times one 256x256 complex image through ``mri-brain`` (the cost of every diffusion-reconstruction
step), a batch of 4, and one 128x128 image through ``ct-ellipses``, with the harness of
:mod:`recon.benchmarks.harness` (warm-up excluded, median of rounds). The section
``<!-- bench:prior-forward -->`` of the markdown file is replaced.

To say how far a time is from what the processor allows, it also reports the floating-point
operations of one ``mri-brain`` call (XLA's cost analysis of the compiled function) and the
float32 rate this process reaches on a large matrix product (a 2048^2 ``a @ a``, close to the
peak of the vector units): their ratio is a lower bound on the forward time of that network here.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from models import load_prior
from models.checkpoints import load_weights
from models.edm import EDMDenoiser
from recon.benchmarks.harness import compare, markdown_table, write_results


def compiled_gflop(fn, *args) -> float:
    """Floating-point operations of ``jit(fn)(*args)`` by XLA's cost analysis, in 1e9."""
    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(analysis, list):  # older jax: one dict per computation
        analysis = analysis[0]
    return float(analysis["flops"]) / 1e9


def matmul_gflops(n: int = 2048, rounds: int = 9) -> float:
    """float32 rate of a jit-compiled ``n x n`` matrix product (median of ``rounds``), in 1e9/s."""
    a = jnp.ones((n, n), jnp.float32)
    product = jax.jit(lambda m: m @ m)
    timing = compare("matmul", {"a @ a": lambda: product(a).block_until_ready()}, "a @ a",
                     rounds=rounds)
    return 2.0 * n**3 / timing.median("a @ a") / 1e9


def run(rounds: int = 15, candidates: tuple[str, ...] = ()) -> list:
    """Time the shipped priors and, on the same 256x256 image, the complex priors exported to
    the folders ``candidates`` (e.g. a distilled student, ``recon train --export``)."""
    brain, ct = load_prior("mri-brain"), load_prior("ct-ellipses")
    key = jax.random.key(0)
    x1 = (jax.random.normal(key, (256, 256, 2)) @ jnp.array([1.0, 1j])).astype(jnp.complex64)
    x4 = jnp.stack([x1] * 4)
    xc = jax.random.uniform(key, (128, 128), jnp.float32)
    fb, fc = jax.jit(brain.__call__), jax.jit(ct.__call__)
    s = jnp.float32(0.1)
    n_params = sum(p.size for p in jax.tree.leaves(brain.params))
    cases = {
        "mri-brain, 1 x 256x256 complex64": lambda: fb(x1, s).block_until_ready(),
        "mri-brain, 4 x 256x256 complex64": lambda: fb(x4, s).block_until_ready(),
        "ct-ellipses, 1 x 128x128 float32": lambda: fc(xc, s).block_until_ready(),
    }
    students = {folder: jax.jit(EDMDenoiser(*load_weights(folder)).__call__)
                for folder in candidates}
    for folder, fn in students.items():
        cases[f"{folder}, 1 x 256x256 complex64"] = (
            lambda fn=fn: fn(x1, s).block_until_ready())
    c = compare(
        "Prior denoiser forward pass D(x, sigma)",
        cases,
        reference="mri-brain, 1 x 256x256 complex64",
        rounds=rounds,
        warmup=2,
        notes={"mri-brain, 4 x 256x256 complex64": "one batched call"},
    )
    c.extra["mri-brain parameters"] = f"{n_params:,}"
    gflop = compiled_gflop(fb, x1, s)
    rate = matmul_gflops()
    c.extra["mri-brain GFLOP per 256x256 image (XLA cost analysis)"] = f"{gflop:.1f}"
    c.extra["float32 matmul rate here (2048^2)"] = f"{rate:.0f} GFLOP/s"
    c.extra["mri-brain at that rate (lower bound)"] = f"{1e3 * gflop / rate:.0f} ms"
    for folder, fn in students.items():
        c.extra[f"{folder} GFLOP per 256x256 image"] = f"{compiled_gflop(fn, x1, s):.1f}"
    return [c]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--candidate", action="append", default=[], metavar="DIR",
                   help="also time the complex prior exported to DIR (repeatable)")
    p.add_argument("--json", default="bench-prior-forward.json")
    p.add_argument("--markdown", default=None, help="e.g. BENCHMARKS.md")
    args = p.parse_args(argv)
    comps = run(args.rounds, tuple(args.candidate))
    print(markdown_table(comps))
    write_results("prior-forward", comps, args.json, args.markdown,
                  heading="Diffusion prior forward pass (`python -m "
                  "experiments.bench_prior_forward --markdown BENCHMARKS.md`)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
