"""``recon bench ct``: CT projectors, FBP and FDK against scikit-image and ASTRA (CPU).

Sizes as issue 3 states them: parallel beam 256² x 180 angles x 367 bins (and 512² x 720 x 725),
fan beam 256² x 360 angles over 2π, FBP 256² from 180 angles (and fan-beam FBP from a full 2π
scan against a Parker short scan at the same 1° step), cone beam 128³ x 180 views x 192²
detector. ASTRA's CPU projectors are used when ``astra`` imports (its 3-D code is CUDA-only, so
the cone beam has no CPU peer; its throughput is reported in ray samples per second next to
torch-radon's published T4 figure). Agreement and PSNR figures are computed in the same run.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.ndimage import gaussian_filter

from operators.ct import cone_beam, fan_beam, parallel_beam
from recon.benchmarks.harness import Comparison, compare
from recon.ct import phantom
from recon.ct.fbp import fbp, fdk

TORCH_RADON_T4 = 2.25e11  # ray samples / s, torch-radon's published figure on a T4 GPU


def _astra():
    try:
        import astra
    except Exception:
        return None
    return astra


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _ready(fn):
    def run():
        return jax.block_until_ready(fn())

    return run


def _parallel(n: int, n_angles: int, n_det: int, rounds: int) -> list[Comparison]:
    from skimage.transform import iradon, radon

    astra = _astra()
    img = gaussian_filter(phantom.shepp_logan((n, n), supersample=2), 1.5).astype(np.float32)
    angles = np.linspace(0.0, np.pi, n_angles, endpoint=False)
    A = parallel_beam((n, n), angles, n_det)
    R = parallel_beam((n, n), angles, n_det, method="ray")
    x = jnp.asarray(img)
    fw, bw = jax.jit(lambda v: A(v)), jax.jit(lambda s: A.H(s))
    fw_r, bw_r = jax.jit(lambda v: R(v)), jax.jit(lambda s: R.H(s))
    sino = fw(x)
    fwd = {
        "ours (Fourier-slice NUFFT)": _ready(lambda: fw(x)),
        "ours (Joseph, pure JAX)": _ready(lambda: fw_r(x)),
    }
    bwd = {
        "ours (Fourier-slice NUFFT)": _ready(lambda: bw(sino)),
        "ours (Joseph, pure JAX)": _ready(lambda: bw_r(sino)),
    }
    extra_f: dict = {}
    notes: dict = {}
    theta_deg = np.rad2deg(angles)
    if n <= 256:
        fwd["scikit-image radon"] = lambda: radon(img, theta_deg, circle=False)
        sk_sino = radon(img, theta_deg, circle=False)
        bwd["scikit-image iradon (no filter)"] = lambda: iradon(
            sk_sino, theta_deg, filter_name=None, circle=False, output_size=n
        )
        notes["scikit-image radon"] = f"{sk_sino.shape[0]} bins (its own choice)"
    ref = "scikit-image radon"
    ref_b = "scikit-image iradon (no filter)"
    if astra is not None:
        vg = astra.create_vol_geom(n, n)
        pg = astra.create_proj_geom("parallel", 1.0, n_det, -angles)
        pid = astra.create_projector("linear", pg, vg)
        _, a_sino = astra.create_sino(img, pid)
        s_np = np.asarray(sino)
        fwd["ASTRA CPU linear"] = lambda: astra.create_sino(img, pid)
        bwd["ASTRA CPU linear"] = lambda: astra.create_backprojection(s_np, pid)
        extra_f["relative L2 vs ASTRA linear (smoothed Shepp-Logan)"] = (
            f"Fourier {_rel(sino, a_sino):.2e}, Joseph {_rel(fw_r(x), a_sino):.2e}"
        )
        ref = ref_b = "ASTRA CPU linear"
    if ref not in fwd:
        ref = ref_b = "ours (Joseph, pure JAX)"
    title = f"parallel beam {n}^2, {n_angles} angles, {n_det} bins, float32"
    c1 = compare(f"{title}: forward projection", fwd, ref, rounds=rounds, notes=notes)
    c1.extra.update(extra_f)
    c2 = compare(f"{title}: backprojection", bwd, ref_b, rounds=rounds)
    return [c1, c2]


def _fan(n: int, n_angles: int, n_det: int, rounds: int) -> list[Comparison]:
    astra = _astra()
    img = gaussian_filter(phantom.shepp_logan((n, n), supersample=2), 1.5).astype(np.float32)
    angles = np.linspace(0.0, 2 * np.pi, n_angles, endpoint=False)
    r_s, r_d, spacing = 2.0 * n, 1.5 * n, 1.5
    ops = {
        f"{det} ({method})": fan_beam(
            (n, n), angles, n_det, r_s, r_d, det_spacing=spacing, detector=det, method=method
        )
        for method in ("rebin", "ray")
        for det in ("flat", "arc")
    }
    x = jnp.asarray(img)
    fws = {k: jax.jit(lambda v, op=op: op(v)) for k, op in ops.items()}
    bws = {k: jax.jit(lambda s, op=op: op.H(s)) for k, op in ops.items()}
    sinos = {k: fws[k](x) for k in ops}
    fwd = {f"ours {k}": _ready(lambda k=k: fws[k](x)) for k in ops}
    bwd = {f"ours {k}": _ready(lambda k=k: bws[k](sinos[k])) for k in ops}
    extra: dict = {}
    ref = "ours flat (rebin)"
    if astra is not None:
        vg = astra.create_vol_geom(n, n)
        pg = astra.create_proj_geom("fanflat", spacing, n_det, -angles, r_s, r_d)
        pid = astra.create_projector("line_fanflat", pg, vg)
        _, a_sino = astra.create_sino(img, pid)
        s_np = np.asarray(sinos["flat (rebin)"])
        fwd["ASTRA CPU line_fanflat"] = lambda: astra.create_sino(img, pid)
        bwd["ASTRA CPU line_fanflat"] = lambda: astra.create_backprojection(s_np, pid)
        extra["relative L2, ours flat vs ASTRA fanflat (smoothed Shepp-Logan)"] = ", ".join(
            f"{m} {_rel(sinos[f'flat ({m})'], a_sino):.2e}" for m in ("rebin", "ray")
        )
        ref = "ASTRA CPU line_fanflat"
    title = f"fan beam {n}^2, {n_angles} angles over 2π, {n_det} bins, float32"
    c1 = compare(f"{title}: forward projection", fwd, ref, rounds=rounds)
    c1.extra.update(extra)
    c2 = compare(f"{title}: backprojection", bwd, ref, rounds=rounds)
    return [c1, c2]


def _moved_phantom_sinogram(n: int, angles, det_offset: float, centre: float) -> np.ndarray:
    """Analytic parallel sinogram (our geometry, ``n`` bins) of the phantom moved by ``centre``
    pixels along x and y (its raster: ``phantom.shepp_logan(..., shift=-centre)``)."""
    theta = np.asarray(angles, dtype=np.float64)[:, None]
    s = (np.arange(n) - 0.5 * (n - 1)) + det_offset
    e = np.stack([np.cos(theta), np.sin(theta)], -1) * np.ones((1, n, 1))
    dirs = np.stack([-np.sin(theta), np.cos(theta)], -1) * np.ones((1, n, 1))
    return phantom.ray_integrals(s[None, :, None] * e - centre, dirs, (n, n))


def _fbp_vs_iradon(n: int, theta: np.ndarray, placement: float) -> tuple[float, float]:
    """PSNRs (ours ram-lak, iradon ramp) in the same situation: each fed its own detector
    convention (iradon: axis at bin n // 2 on pixel n // 2; ours: axis at (n-1)/2), the phantom's
    centre ``placement`` pixels from a pixel centre of each grid, one raster for both."""
    from skimage.metrics import peak_signal_noise_ratio as psnr
    from skimage.transform import iradon

    angles = -np.deg2rad(theta)
    half = 0.5 * (n - 1) - n // 2  # our pixel-centre offset from iradon's axis: 0 or -0.5
    sino_sk = _moved_phantom_sinogram(n, angles, half, placement)
    sino_ours = _moved_phantom_sinogram(n, angles, 0.0, placement - half).astype(np.float32)
    truth = phantom.shepp_logan((n, n), supersample=4, shift=half - placement)
    ours = np.asarray(fbp(parallel_beam((n, n), angles, n), jnp.asarray(sino_ours)))
    ref = iradon(sino_sk.T, theta, circle=True)
    return psnr(truth, ours, data_range=1.0), psnr(truth, ref, data_range=1.0)


def _fbp(n: int, n_angles: int, rounds: int) -> list[Comparison]:
    from skimage.metrics import peak_signal_noise_ratio as psnr
    from skimage.transform import iradon

    theta = np.linspace(0.0, 180.0, n_angles, endpoint=False)
    angles = -np.deg2rad(theta)  # scikit-image's angles are the negatives of ours
    off = -0.5 if n % 2 == 0 else 0.0  # its detector centre is bin n // 2
    sino = phantom.parallel_sinogram((n, n), angles, n, det_offset=off).astype(np.float32)
    truth = phantom.shepp_logan((n, n), supersample=4)
    # scikit-image reconstructs on pixel centres shifted by (n-1)/2 - n//2 pixels
    truth_sk = phantom.shepp_logan((n, n), supersample=4, shift=(n - 1) / 2 - n // 2)
    A = parallel_beam((n, n), angles, n, det_offset=off)
    s = jnp.asarray(sino)
    ours = {f: jax.jit(lambda v, f=f: fbp(A, v, filter=f)) for f in ("ram-lak", "shepp-logan")}
    cases = {
        "ours FBP ram-lak": _ready(lambda: ours["ram-lak"](s)),
        "scikit-image iradon ramp": lambda: iradon(sino.T, theta, circle=True),
    }
    c = compare(
        f"FBP parallel {n}^2 from {n_angles} angles (analytic Shepp-Logan sinogram)",
        cases,
        "scikit-image iradon ramp",
        rounds=rounds,
    )
    fair = [(d, *_fbp_vs_iradon(n, theta, d)) for d in (0.0, 0.25, 0.5)]
    c.extra["PSNR (dB), same situation (each its own detector convention, same phantom raster)"] = (
        "; ".join(
            f"phantom centre {d:g} px from a pixel centre: ours ram-lak {po:.2f}, iradon {pr:.2f}"
            for d, po, pr in fair
        )
    )
    if n % 2 == 0:
        po, pr = _fbp_vs_iradon(n + 1, theta, 0.0)
        c.extra[f"PSNR (dB), odd size {n + 1}^2, the same sinogram array and pixel grid"] = (
            f"ours ram-lak {po:.2f}, iradon {pr:.2f}"
        )
    p_sk = psnr(truth_sk, iradon(sino.T, theta, circle=True), data_range=1.0)
    p_rl = psnr(truth, np.asarray(ours["ram-lak"](s)), data_range=1.0)
    p_sl = psnr(truth, np.asarray(ours["shepp-logan"](s)), data_range=1.0)
    c.extra["PSNR (dB), the same sinogram array (iradon's detector convention)"] = (
        f"ours ram-lak {p_rl:.2f}, ours shepp-logan {p_sl:.2f}, iradon ramp {p_sk:.2f} "
        "(each against the phantom rasterised on its own pixel grid; at even n our pixel centres "
        "fall half-way between this array's bins at 0° and 90°, and the phantom sits on a pixel "
        "corner of our grid but a pixel centre of iradon's: recon/ct/fbp.py's docstring)"
    )
    return [c]


def _fbp_short_scan(n: int, n_full: int, rounds: int) -> list[Comparison]:
    """Fan-beam FBP (flat and arc detectors), full 2π scan vs a Parker-weighted short scan of
    π + 2γ_max at the same angular step: PSNR against the phantom, and time."""
    from skimage.metrics import peak_signal_noise_ratio as psnr

    r_s, r_d, n_det, spacing = 2.0 * n, 1.5 * n, int(1.45 * n), 1.5
    step = 2 * np.pi / n_full
    truth = phantom.shepp_logan((n, n), supersample=4)
    cases, scores, views = {}, {}, {}
    for det in ("flat", "arc"):
        u = ((np.arange(n_det) - 0.5 * (n_det - 1)) * spacing) / (r_s + r_d)
        gamma_max = float(np.max(np.abs(np.arctan(u) if det == "flat" else u)))
        n_short = int(np.ceil((np.pi + 2 * gamma_max) / step))
        for scan, n_views in (("full 2π", n_full), ("short π+2γ_max", n_short)):
            F = fan_beam((n, n), np.arange(n_views) * step, n_det, r_s, r_d, spacing, det)
            sino = jnp.asarray(phantom.projections(F), jnp.float32)
            run = jax.jit(lambda y, F=F: fbp(F, y))
            name = f"ours {det}, {scan}"
            cases[name] = _ready(lambda run=run, sino=sino: run(sino))
            scores[name] = psnr(truth, np.asarray(run(sino)), data_range=1.0)
            views[name] = f"{n_views} views"
    c = compare(
        f"FBP fan beam {n}^2, full scan vs Parker short scan (analytic Shepp-Logan)",
        cases,
        "ours flat, full 2π",
        rounds=rounds,
        notes=views,
    )
    c.extra["PSNR (dB)"] = ", ".join(f"{k[5:]} {v:.2f}" for k, v in scores.items()) + (
        " (a short scan measures most rays once, a full turn twice at interleaved positions, so "
        "at the same step its angular sampling is half as fine; the gap closes as the step shrinks)"
    )
    return [c]


def _cone(n: int, n_views: int, det: int, rounds: int) -> list[Comparison]:
    args = ((n, n, n), np.linspace(0, 2 * np.pi, n_views, endpoint=False), (det, det))
    ops = {
        "ours (rotated frame, pure JAX)": cone_beam(
            *args, 2.5 * n, 1.5 * n, det_spacing=(1.2, 1.2)
        ),
        "ours (Joseph, pure JAX)": cone_beam(
            *args, 2.5 * n, 1.5 * n, det_spacing=(1.2, 1.2), method="ray"
        ),
    }
    ref = "ours (Joseph, pure JAX)"
    vol = jnp.asarray(phantom.shepp_logan((n, n, n)), jnp.float32)
    fws = {k: jax.jit(lambda v, op=op: op(v)) for k, op in ops.items()}
    bws = {k: jax.jit(lambda y, op=op: op.H(y)) for k, op in ops.items()}
    projs = {k: fws[k](vol) for k in ops}
    fwd = {k: _ready(lambda k=k: fws[k](vol)) for k in ops}
    bwd = {k: _ready(lambda k=k: bws[k](projs[k])) for k in ops}
    title = f"cone beam {n}^3, {n_views} views, {det}x{det} detector"
    cf = compare(f"{title}: forward projection", fwd, ref, rounds=rounds)
    cb = compare(f"{title}: backprojection", bwd, ref, rounds=rounds)
    samples = n_views * det * det * n  # one sample per ray per voxel plane (both engines)
    for c in (cf, cb):
        for k in ops:
            rate = samples / c.median(k)
            c.extra[f"ray samples / s, {k}"] = (
                f"{rate:.3g} (torch-radon's published T4 GPU figure: {TORCH_RADON_T4:.3g}, "
                f"{TORCH_RADON_T4 / rate:.0f}x more)"
            )
        c.extra["note"] = (
            "no CPU peer (ASTRA's 3-D code is CUDA-only); samples counted as n per ray for both "
            f"engines (the rotated one samples {ops['ours (rotated frame, pure JAX)'].n_planes} "
            "planes per ray)"
        )
    cf.extra["relative L2, rotated vs Joseph (unsmoothed Shepp-Logan)"] = (
        f"{_rel(projs['ours (rotated frame, pure JAX)'], projs[ref]):.2e}"
    )
    C = ops["ours (rotated frame, pure JAX)"]
    t0 = time.perf_counter()
    jax.block_until_ready(jax.jit(lambda p: fdk(C, p))(projs["ours (rotated frame, pure JAX)"]))
    cb.extra["FDK (first call, with compilation)"] = f"{time.perf_counter() - t0:.1f} s"
    return [cf, cb]


def run(quick: bool = False) -> list[Comparison]:
    comparisons = _run(quick)
    comparisons[-1].extra["machine load"] = (
        f"1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end of the "
        "run (other jobs shared the CPU; ratios are side by side, absolute times are inflated)"
    )
    return comparisons


def _run(quick: bool) -> list[Comparison]:
    if quick:
        return (
            _parallel(64, 30, 91, rounds=2)
            + _fan(64, 60, 96, rounds=2)
            + _fbp(64, 30, rounds=2)
            + _fbp_short_scan(64, 90, rounds=2)
            + _cone(24, 12, 32, rounds=1)
        )
    return (
        _parallel(256, 180, 367, rounds=7)
        + _parallel(512, 720, 725, rounds=3)
        + _fan(256, 360, 367, rounds=5)
        + _fbp(256, 180, rounds=5)
        + _fbp_short_scan(256, 360, rounds=5)
        + _cone(128, 180, 192, rounds=2)
    )
