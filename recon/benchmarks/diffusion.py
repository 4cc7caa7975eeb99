"""``recon bench diffusion``: cost of a diffusion reconstruction (DDS) on this machine.

Work (issue: diffusion posterior sampling, speed target): one 256x256 8-coil Cartesian slice
(MNI brain slice simulated on a 2x finer grid, :func:`recon.simulate.brain_slice_kspace`), 4x
fastMRI random mask (8 % centre), the shipped ``mri-brain`` prior, DDS at 50 NFE, K = 1, 4 and 8
posterior samples drawn in one vmapped batch; the known coil maps of the simulation (the cost of
ESPIRiT is in ``recon bench mri-recon``). And one CT case: 128x128 ellipses, 30 parallel views,
the ``ct-ellipses`` prior, DDS at 50 NFE, K = 1 and 4. And what ``recon mri --method dds`` runs
by default: the L1-wavelet reconstruction (100 FISTA iterations) and from it two warm-started
antithetic samples of 25 NFE (50 NFE in all).

The whole reconstruction is one jitted function, compiled ahead of time; the compile time is
measured separately (``extra``) and the timed rounds exclude it. K > 1 runs both ways: the
default sample batch (one sample at a time on CPU, ``lax.map``) and all K in one vmapped batch.
There is no peer in this process (the published DDS / score-MRI code is PyTorch with downloaded
weights); the reference case is K = 1, so the ratios are the cost of posterior samples.
Published figures for context: score-MRI 4,000-30,000 NFE per slice, DDS 50-100 NFE (Chung et
al., ICLR 2024).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from recon.benchmarks.harness import Comparison, compare


def _compiled(fn, *args):
    """Ahead-of-time compile ``fn`` for ``args``; return ``(executable, compile seconds)``.

    Timing ``lower(...).compile()`` measures the compilation alone; the earlier
    first-call-minus-steady-call estimate was swamped by load noise (it once came out negative).
    """
    t0 = time.perf_counter()
    exe = jax.jit(fn).lower(*args).compile()
    return exe, time.perf_counter() - t0


def _cases(prior, A, y, noise_std: float, nfe: int, samples: tuple[int, ...],
           both_ways: bool = False):
    """One case per K with the default sample batch (one at a time on CPU); with
    ``both_ways`` each K > 1 also as one vmapped batch of all K samples."""
    from recon.diffusion.posterior import DiffusionConfig, reconstruct
    from recon.diffusion.samplers import default_sample_batch

    cases, compile_s = {}, {}
    for k in samples:
        for b in (None, k) if both_ways and k > 1 else (None,):
            cfg = DiffusionConfig(method="dds", nfe=nfe, n_samples=k, noise_std=noise_std,
                                  sample_batch=b)
            exe, compile_s_k = _compiled(lambda y, c=cfg: reconstruct(
                prior, A, y, c, jax.random.PRNGKey(0), prior_var=prior.config.sigma_data**2), y)
            used = default_sample_batch() if b is None else b
            how = "" if k == 1 else (", one vmapped batch" if used is None or used >= k
                                     else f", batches of {used}")
            name = f"DDS {nfe} NFE, K = {k}{how}"
            compile_s[name] = compile_s_k
            cases[name] = lambda exe=exe: jax.block_until_ready(exe(y))
    return cases, compile_s


def _warm_start_case(prior, A, y, noise_std: float, nfe: int):
    """The CLI default: L1-wavelet, then 2 antithetic samples of ``nfe // 2`` NFE warm-started
    from it (:data:`recon.slice_methods.MRI_WARM_START`); one jitted function."""
    from recon.diffusion.posterior import DiffusionConfig
    from recon.slice_methods import l1_warm_started_reconstruct

    cfg = DiffusionConfig(method="dds", nfe=max(nfe // 2, 1), n_samples=2, noise_std=noise_std)
    exe, seconds = _compiled(
        lambda y: l1_warm_started_reconstruct(prior, A, y, cfg, jax.random.PRNGKey(0)), y)
    name = f"L1-wavelet + DDS {cfg.nfe} NFE x K = 2 warm-started (recon mri default)"
    return name, (lambda: jax.block_until_ready(exe(y))), seconds


def _mri(size: int, nfe: int, samples: tuple[int, ...], rounds: int,
         both_ways: bool = True) -> Comparison:
    from models import load_prior
    from operators.mri import random_mask, sense
    from recon.simulate import brain_slice_kspace, coil_maps

    sim = brain_slice_kspace(90, (size, size), num_coils=8, key=jax.random.PRNGKey(0))
    mask = random_mask(0, size, center_fractions=0.08, accelerations=4)
    maps = coil_maps(8, (2 * size, 2 * size))[:, ::2, ::2]
    A = sense(jnp.asarray(maps, jnp.complex64), jnp.asarray(mask, jnp.float32))
    y = jnp.asarray(sim["kspace"] * mask)
    prior, noise_std = load_prior("mri-brain"), float(sim["noise_std"]) / np.sqrt(2)
    cases, compile_s = _cases(prior, A, y, noise_std, nfe, samples, both_ways)
    name, fn, compile_s[name] = _warm_start_case(prior, A, y, noise_std, nfe)
    cases[name] = fn
    ref = next(iter(cases))
    c = compare(f"DDS MRI {size}x{size}, 8 coils, 4x, {nfe} NFE (mri-brain prior)", cases, ref,
                rounds=rounds, warmup=0)
    c.extra["compile time (ahead of time, excluded from the rounds)"] = ", ".join(
        f"{k}: {v:.1f} s" for k, v in compile_s.items())
    c.extra["per NFE, K = 1"] = f"{1e3 * c.median(ref) / nfe:.0f} ms"
    return c


def _ct(size: int, nfe: int, samples: tuple[int, ...], rounds: int,
        both_ways: bool = True) -> Comparison:
    from models import load_prior
    from models.data.ellipses import EllipsesSource, ellipse_images
    from operators.ct import parallel_beam
    from recon.ct.noise import gaussian

    key = jax.random.fold_in(jax.random.key(EllipsesSource().heldout_seed), 0)
    truth = ellipse_images(key, 1, size)[0]
    angles = np.linspace(0, np.pi, 30, endpoint=False)
    A = parallel_beam((size, size), angles, int(np.ceil(size * 1.43)))
    clean = A(truth)
    y = gaussian(jax.random.PRNGKey(1), clean, 0.025, relative=True)
    noise_std = 0.025 * float(jnp.mean(jnp.abs(clean)))
    cases, compile_s = _cases(load_prior("ct-ellipses"), A, y, noise_std, nfe, samples,
                              both_ways)
    ref = next(iter(cases))
    c = compare(f"DDS CT {size}x{size}, 30 parallel views, {nfe} NFE (ct-ellipses prior)", cases,
                ref, rounds=rounds, warmup=0)
    c.extra["compile time (ahead of time, excluded from the rounds)"] = ", ".join(
        f"{k}: {v:.1f} s" for k, v in compile_s.items())
    return c


def run(quick: bool = False) -> list[Comparison]:
    if quick:
        return [_mri(64, 4, (1, 2), rounds=1), _ct(64, 4, (1, 2), rounds=1, both_ways=False)]
    return [_mri(256, 50, (1, 4, 8), rounds=3), _ct(128, 50, (1, 4), rounds=3)]
