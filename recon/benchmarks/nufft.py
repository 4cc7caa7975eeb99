"""``recon bench nufft``: forward + adjoint NUFFT, our two backends against FINUFFT and sigpy.

Work per case: ``y = A x`` then ``A^H y`` (complex64), blocking on the result.

- 2-D: 256 x 256 image, 256 radial spokes x 512 samples (131,072 points, sigpy's centre-out
  ``radial``); 3-D: 64^3 image, 1,563 golden-means radial spokes x 128 samples (200,064 points).
- Accuracy: every case's relative error against an exact float64 NUDFT is measured on a subset
  (256 samples for the forward, 256 pixels for the adjoint) and put in the notes.
- Peers: raw ``finufft`` (the Python package, plans made once so points are not re-sorted per call,
  ``nthreads = os.cpu_count()``), at the tolerance our finufft backend passes (``eps/3``, needed for
  ``<= eps`` since FINUFFT's tolerance is not a bound) and at the nominal ``eps``; ``sigpy.nufft``
  with its defaults (oversampling 1.25, width 4).
  A single-threaded finufft plan is listed too (OpenMP threads suffer most when other processes
  load the cores), and a one-shot finufft call (points sorted on every call, as jax-finufft
  must).
- Reference for the ratios: raw finufft at ``eps/3`` (the fastest way to reach error <= 1e-3).
"""

from __future__ import annotations

import os

import jax
import numpy as np

from recon.benchmarks.harness import Comparison, compare

EPS = 1e-3


def _nudft_errors(coords, shape, x, y, fwd, adj, rng) -> tuple[float, float]:
    """Relative errors of ``fwd`` (samples) and ``adj`` (image) on random subsets, float64."""
    k = np.asarray(coords, np.float64).reshape(-1, len(shape))
    grids = [np.arange(n) - n // 2 for n in shape]
    flat_x = np.asarray(x, np.complex128).ravel()
    fwd, adj = np.asarray(fwd).ravel(), np.asarray(adj).ravel()
    mesh = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, len(shape))
    sub = rng.choice(k.shape[0], 256, replace=False)
    exact_f = np.empty(sub.size, np.complex128)
    for s in range(0, sub.size, 16):
        ph = (k[sub[s : s + 16]] / np.asarray(shape)) @ mesh.T
        exact_f[s : s + 16] = np.exp(-2j * np.pi * ph) @ flat_x
    exact_f /= np.sqrt(np.prod(shape))
    pix = rng.choice(mesh.shape[0], 256, replace=False)
    flat_y = np.asarray(y, np.complex128).ravel()
    exact_a = np.empty(pix.size, np.complex128)
    for s in range(0, pix.size, 8):
        ph = (mesh[pix[s : s + 8]] / np.asarray(shape)) @ k.T
        exact_a[s : s + 8] = np.exp(2j * np.pi * ph) @ flat_y
    exact_a /= np.sqrt(np.prod(shape))
    ef = np.linalg.norm(fwd[sub] - exact_f) / np.linalg.norm(exact_f)
    ea = np.linalg.norm(adj[pix] - exact_a) / np.linalg.norm(exact_a)
    return float(ef), float(ea)


def _one(title: str, coords: np.ndarray, shape: tuple[int, ...], rounds: int) -> Comparison:
    import finufft
    import sigpy

    import operators.mri as mri

    rng = np.random.default_rng(0)
    nd = len(shape)
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    threads = os.cpu_count() or 1
    flat = coords.reshape(-1, nd)
    pts = [
        np.ascontiguousarray(2 * np.pi * flat[:, i] / n, np.float32) for i, n in enumerate(shape)
    ]
    scale = float(np.prod(shape)) ** -0.5

    def finufft_pair(eps, nthreads=threads):
        p2 = finufft.Plan(2, shape, eps=eps, dtype="complex64", isign=-1, nthreads=nthreads)
        p1 = finufft.Plan(1, shape, eps=eps, dtype="complex64", isign=1, nthreads=nthreads)
        p2.setpts(*pts)
        p1.setpts(*pts)

        def run():
            yy = p2.execute(x) * scale
            return yy, p1.execute(yy) * scale

        return run

    type2 = getattr(finufft, f"nufft{nd}d2")
    type1 = getattr(finufft, f"nufft{nd}d1")

    def finufft_oneshot(eps):
        def run():
            yy = type2(*pts, x, eps=eps, isign=-1, nthreads=threads) * scale
            return yy, type1(*pts, yy, shape, eps=eps, isign=1, nthreads=threads) * scale

        return run

    ops = {
        b: mri.nufft(coords, shape, eps=EPS, backend=b, toeplitz=False) for b in ("jax", "finufft")
    }
    fwd_adj = jax.jit(lambda op, v: (lambda yy: (yy, op.H(yy)))(op(v)))
    xj = jax.device_put(x)

    def ours(op):
        return lambda: jax.block_until_ready(fwd_adj(op, xj))

    sig_coords = coords.astype(np.float32)

    def sigpy_run():
        yy = sigpy.nufft(x, sig_coords)
        return yy, sigpy.nufft_adjoint(yy, sig_coords, shape)

    internal = ops["finufft"].finufft_eps
    cases = {
        "jax backend (ours)": ours(ops["jax"]),
        "finufft backend (ours, jax-finufft)": ours(ops["finufft"]),
        f"finufft raw, eps {internal:.1e}": finufft_pair(internal),
        f"finufft raw, eps {EPS:.0e}": finufft_pair(EPS),
        f"finufft raw, 1 thread, eps {internal:.1e}": finufft_pair(internal, 1),
        f"finufft raw one-shot (no plan reuse), eps {internal:.1e}": finufft_oneshot(internal),
        "sigpy (defaults)": sigpy_run,
    }
    reference = f"finufft raw, eps {internal:.1e}"
    notes, errors = {}, {}
    for name, fn in cases.items():
        y, xa = fn()
        ef, ea = _nudft_errors(coords, shape, x, y, y.reshape(-1), xa, np.random.default_rng(1))
        errors[name] = {"forward": ef, "adjoint": ea}
        notes[name] = f"error vs NUDFT: fwd {ef:.1e}, adj {ea:.1e}"
    notes["jax backend (ours)"] += f"; KB width {ops['jax'].width}, 2x grid"
    comp = compare(title, cases, reference, rounds=rounds, warmup=1, notes=notes)
    comp.extra["errors_vs_nudft"] = errors
    comp.extra["points"] = int(flat.shape[0])
    comp.extra["threads"] = threads
    return comp


def run(quick: bool) -> list[Comparison]:
    from operators.mri.trajectories import radial, radial_3d

    if quick:
        n2, spokes, samples, n3, spokes3, samples3, rounds = 64, 64, 128, 16, 200, 16, 3
    else:
        n2, spokes, samples, n3, spokes3, samples3, rounds = 256, 256, 512, 64, 1563, 128, 7
    c2 = radial(spokes, samples, (n2, n2))
    c3 = radial_3d(spokes3, samples3, (n3, n3, n3))
    out = [
        _one(
            f"NUFFT 2D forward+adjoint, {n2}x{n2}, {spokes}x{samples} radial, complex64, "
            f"eps {EPS:g}",
            c2, (n2, n2), rounds,
        ),
        _one(
            f"NUFFT 3D forward+adjoint, {n3}^3, {spokes3 * samples3} radial points, complex64, "
            f"eps {EPS:g}",
            c3, (n3, n3, n3), max(3, rounds - 2),
        ),
    ]
    return out
