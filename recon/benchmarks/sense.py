"""``recon bench sense``: Cartesian SENSE forward + adjoint against sigpy and the FFT floor.

Work: 320x320 image, 8 coils, fastMRI-style random 1D mask at 4x with 8% centre (float32),
complex64. Cases, each timed as a forward call followed by an adjoint call on its output:

- ``ours``: ``operators.mri.sense(maps, mask)``, jitted, defaults (fused modulation centring,
  no pruning, vectorised over coils);
- ``ours, pruned both ways``: ``prune=True`` (forward and adjoint skip the readout FFT on
  unsampled lines);
- ``ours, pruned adjoint``: ``prune="adjoint"``;
- ``ours, coil loop``: ``coil_loop=True`` (coils in a ``lax.map``/``lax.scan`` loop);
- ``ours, unfused``: the textbook composition with fftshifts (``fused=False``);
- ``DFT-matmul pruning``: the alternative pruning design (a centred DFT matrix restricted to the
  sampled lines, then the readout FFT), to document why FFT-then-gather was chosen;
- ``sigpy``: ``sigpy.mri.linop.Sense(maps, weights=mask)`` on NumPy arrays (CPU);
- ``FFT floor``: a bare jitted ``fftn`` then ``ifftn`` of the full ``(8, 320, 320)`` coil array.

The reference is sigpy; ``extra`` holds the ratio to the FFT floor and the agreement with sigpy.
A second comparison times the normal operator ``A.N`` against ``A.H(A(x))`` and sigpy's.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from recon.benchmarks.harness import Comparison, compare


def _dft_matmul_pair(maps: np.ndarray, mask: np.ndarray):
    """Pruning by a DFT matrix over the sampled lines (the design not chosen), jitted."""
    from operators.fft import fftc, ifftc

    coils, height, width = maps.shape
    lines = np.flatnonzero(mask)
    c = width // 2
    dft = np.exp(-2j * np.pi * np.outer(lines - c, np.arange(width) - c) / width) / np.sqrt(width)
    dft = jnp.asarray(dft * mask[lines, None], jnp.complex64)  # (K, W)
    idx = jnp.asarray(lines)

    @jax.jit
    def forward(m, x):
        t = jnp.einsum("chw,kw->chk", m * x, dft)
        u = fftc(t, axes=(1,))
        return jnp.zeros((coils, height, width), u.dtype).at[:, :, idx].set(u)

    @jax.jit
    def adjoint(m, y):
        v = ifftc(y[:, :, idx], axes=(1,))
        return jnp.sum(jnp.conj(m) * jnp.einsum("chk,kw->chw", v, jnp.conj(dft)), axis=0)

    return forward, adjoint


def run(quick: bool = False) -> list[Comparison]:
    import sigpy.mri

    import operators.mri as om

    coils, n = (4, 128) if quick else (8, 320)
    rounds = 5 if quick else 41
    rng = np.random.default_rng(0)
    maps = (rng.standard_normal((coils, n, n)) + 1j * rng.standard_normal((coils, n, n))).astype(
        np.complex64
    )
    x = (rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))).astype(np.complex64)
    mask = om.random_mask(0, n, 0.08, 4)

    apply = jax.jit(lambda A, v: A(v))
    adjoint = jax.jit(lambda A, v: A.H(v))
    normal = jax.jit(lambda A, v: A.N(v))
    normal_via_h = jax.jit(lambda A, v: A.H(A(v)))

    def pair(A):
        xj = jnp.asarray(x)
        return lambda: jax.block_until_ready(adjoint(A, apply(A, xj)))

    ours = om.sense(maps, mask)
    both = om.sense(maps, mask, prune=True)
    adjoint_only = om.sense(maps, mask, prune="adjoint")
    looped = om.sense(maps, mask, coil_loop=True)
    unfused = om.sense(maps, mask, fused=False)
    assert both.pruned and adjoint_only.pruned and not ours.pruned
    mm_fwd, mm_adj = _dft_matmul_pair(maps, mask)
    maps_j, x_j = jnp.asarray(maps), jnp.asarray(x)
    ref = sigpy.mri.linop.Sense(maps, weights=mask)

    fft_fwd = jax.jit(lambda z: jnp.fft.fftn(z, axes=(-2, -1), norm="ortho"))
    fft_inv = jax.jit(lambda z: jnp.fft.ifftn(z, axes=(-2, -1), norm="ortho"))
    coil_images = jnp.asarray(maps * x)

    cases = {
        "ours": pair(ours),
        "ours, pruned both ways": pair(both),
        "ours, pruned adjoint": pair(adjoint_only),
        "ours, coil loop": pair(looped),
        "ours, unfused": pair(unfused),
        "DFT-matmul pruning": lambda: jax.block_until_ready(mm_adj(maps_j, mm_fwd(maps_j, x_j))),
        "sigpy": lambda: ref.H(ref(x)),
        "FFT floor": lambda: jax.block_until_ready(fft_inv(fft_fwd(coil_images))),
    }

    y_ref = ref(x)
    errors = {
        "forward": float(
            np.linalg.norm(np.asarray(apply(ours, x_j)) - y_ref) / np.linalg.norm(y_ref)
        ),
        "adjoint": float(
            np.linalg.norm(np.asarray(adjoint(ours, jnp.asarray(y_ref))) - ref.H(y_ref))
            / np.linalg.norm(ref.H(y_ref))
        ),
    }
    mm_err = float(np.linalg.norm(np.asarray(mm_fwd(maps_j, x_j)) - y_ref) / np.linalg.norm(y_ref))
    title = (
        f"SENSE forward + adjoint, {n}x{n}, {coils} coils, random 1D mask 4x "
        f"({int(mask.sum())} of {n} lines), complex64"
    )
    notes = {
        "ours": "jit; modulation centring, no shifts; defaults",
        "ours, pruned both ways": "jit; prune=True",
        "ours, pruned adjoint": 'jit; prune="adjoint"',
        "ours, coil loop": "jit; coil_loop=True",
        "ours, unfused": "jit; mask @ fftshift-FFT @ maps composition",
        "DFT-matmul pruning": f"jit; rejected design (rel. err. vs sigpy {mm_err:.1e})",
        "sigpy": "numpy, CPU",
        "FFT floor": "jit; fftn + ifftn of the full coil array",
    }
    main = compare(title, cases, reference="sigpy", rounds=rounds, notes=notes)
    floor = main.median("FFT floor")
    main.extra = {
        "ratio to FFT floor (ours / pruned / pruned adjoint / coil loop / unfused)": " / ".join(
            f"{main.median(k) / floor:.2f}x"
            for k in (
                "ours",
                "ours, pruned both ways",
                "ours, pruned adjoint",
                "ours, coil loop",
                "ours, unfused",
            )
        ),
        "targets": "ours <= 0.5x sigpy and <= 1.2x the FFT floor",
        "machine load": (
            f"1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end "
            "of the run (other jobs share the CPU: absolute times inflate, ratios are noisy)"
        ),
        "relative error vs sigpy (forward / adjoint)": (
            f"{errors['forward']:.1e} / {errors['adjoint']:.1e}"
        ),
    }

    normal_cases = {
        "ours A.N (mask-axis FFT only)": lambda: jax.block_until_ready(normal(ours, x_j)),
        "ours A.H(A(x))": lambda: jax.block_until_ready(normal_via_h(ours, x_j)),
        "sigpy A.H * A": lambda: ref.H(ref(x)),
    }
    normal_cmp = compare(
        f"SENSE normal operator, {n}x{n}, {coils} coils, same mask",
        normal_cases,
        reference="sigpy A.H * A",
        rounds=rounds,
        notes={"ours A.N (mask-axis FFT only)": "readout FFTs cancel in A^H A"},
    )
    return [main, normal_cmp]
