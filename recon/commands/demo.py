"""``recon demo``: what the engine does, offline, on data the project makes or ships.

Until the reconstruction pipelines land this runs an *operator demonstration*: it builds a
multi-coil SENSE operator on a synthetic phantom, checks its adjoint, and times forward+adjoint.
It is labelled as such in its output.
"""

from __future__ import annotations

import argparse
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the offline demonstration",
        description="Offline demonstration on data the project makes. Currently an operator "
        "demonstration (the reconstruction demo arrives with the reconstruction pipelines).",
    )
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--coils", type=int, default=8, help="number of simulated coils (default 8)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp

    from operators.fft import fftc
    from operators.linop import FunctionOperator, Multiply, estimate_norm

    if args.size < 8 or args.coils < 1:
        from recon.errors import UserError

        raise UserError(f"--size must be >= 8 and --coils >= 1, got {args.size} and {args.coils}")
    print("recon demo: OPERATOR DEMONSTRATION (reconstruction demo not yet available)")
    n, c = args.size, args.coils
    yy, xx = jnp.meshgrid(jnp.linspace(-1, 1, n), jnp.linspace(-1, 1, n), indexing="ij")
    image = ((xx / 0.7) ** 2 + (yy / 0.9) ** 2 <= 1).astype(jnp.complex64)
    angles = jnp.arange(c) * 2 * jnp.pi / c
    maps = jnp.exp(-((xx[None] - jnp.cos(angles)[:, None, None]) ** 2
                     + (yy[None] - jnp.sin(angles)[:, None, None]) ** 2))
    S = Multiply(maps.astype(jnp.complex64), (n, n))
    F = FunctionOperator(lambda v: fftc(v, axes=(-2, -1)), (c, n, n))
    A = F @ S
    key = jax.random.PRNGKey(0)
    y = jax.random.normal(key, A.out_shape) + 0j
    lhs = jnp.vdot(A(image).ravel(), y.ravel())
    rhs = jnp.vdot(image.ravel(), A.H(y).ravel())
    err = abs(lhs - rhs) / (estimate_norm(A, key) * jnp.linalg.norm(image) * jnp.linalg.norm(y))
    step = jax.jit(lambda op, v: op.H(op(v)))
    step(A, image).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(10):
        step(A, image).block_until_ready()
    ms = (time.perf_counter() - t0) / 10 * 1e3
    print(f"operator: {A}")
    print(f"normalised adjoint error: {float(err):.2e}")
    print(f"forward+adjoint, {c} coils, {n}x{n}: {ms:.2f} ms on {jax.default_backend()}")
    return 0
