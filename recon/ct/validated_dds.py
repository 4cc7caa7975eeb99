"""Validated diffusion output for CT: ``recon ct --method dds`` never silently worse than TV.

The CT counterpart of :mod:`recon.validated_diffusion` (read its docstring for the theory and
limits; only the candidates and the split differ). Per slice:

1. split the sinogram's views into a fit part and held-out whole views
   (:func:`recon.ct.classical.split_views`: 6 of 30 views, one fold, as ``recon ct --lam
   auto``): a held-out view must be predicted the way the
   unmeasured views between the measured ones are, which is what the prior is for;
2. reconstruct from the fit views (a) TV (:func:`recon.ct.classical.slice_solver`'s weight,
   relative to the fit data's mean) and (b) the DDS posterior mean on a reduced budget
   (:func:`recon.validated_diffusion.validation_config`: one antithetic pair of a few network
   evaluations), and the blends ``w x_dds + (1 - w) x_tv`` for ``w`` in :data:`WEIGHTS`;
3. score each by its normalised held-out residual ``||P_v (A x - y)||² / ||P_v y||²`` and
   choose with :func:`recon.measurement_split.decide` against the noise floor
   ``f = σ² |Ω_v| / ||P_v y||²`` (one real component per bin, ``σ`` from ``--noise-std`` or
   :mod:`recon.ct.noise_estimate`); undecided: the **TV image**, never the diffusion one;
4. reconstruct TV from all the views and, only for the slices whose choice has a DDS part,
   the full-budget DDS posterior, and blend them with the chosen weight (``w = 1`` is exactly
   ``--validate off``). A slice that keeps TV costs less than ``--validate off``.

A blend can beat both of its parts: TV's errors (staircasing, lost low-contrast detail) and
DDS's (texture the prior invents where the 30 views are silent) are partly independent, so
their weighted mean has a smaller error than either when they are of similar size; the
held-out views measure which weight predicts unseen data best.

Pure JAX per slice (:func:`validation_slice`, jit and vmap over slices); the decision per slice
is NumPy (:func:`decide_all`). Written here because no library validates a diffusion
reconstruction against held-out projections.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from recon.measurement_split import decide, heldout_residual, noise_floor

#: blend weights of the DDS mean against TV: 0 = TV, 1 = DDS
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
CANDIDATES = ("tv", "blend 0.25", "blend 0.5", "blend 0.75", "dds")
#: what an undecided slice returns: the classical image
UNDECIDED = "tv"
#: the record's fields from the decision (:func:`decide_all`), then from the posterior samples
#: (:func:`add_agreement`)
DECISION_FIELDS = ("heldout_residual", "noise_floor", "floor_spread", "decided", "weight",
                   "choice", "noise_std")
RECORD_FIELDS = (*DECISION_FIELDS, "posterior_agreement", "posterior_disagrees")
ABOUT = ("validated dds per slice (recon.ct.validated_dds, recon.measurement_split): "
         "candidates = blend weights w of w*dds + (1-w)*tv (0: tv, 1: dds) fitted on the views "
         "not held out, their normalised held-out residuals, the noise floor and its spread, "
         "whether it decided (undecided: tv), the weight used, the choice, the noise std, and "
         "the posterior samples' spread on the measured bins over the noise energy there "
         "(agreement; nan where tv was kept and no samples were drawn)")


def validation_slice(denoiser: Any, val_cfg: Any, tv_lam: float, tv_iters: int, A: Any,
                     y: jax.Array, key: jax.Array, noise_std: jax.Array, train: jax.Array,
                     held: jax.Array) -> dict:
    """One slice, pure JAX: the held-out residuals of the candidates fitted on ``train``
    (:data:`CANDIDATES`) and the full-data TV image. ``noise_std`` (may be traced) replaces
    the config's value. The full-budget DDS runs afterwards only for the slices whose choice
    needs it (:func:`needs_dds`), so a slice that keeps TV costs two TV solves and the
    validation's few network evaluations, less than ``--validate off``."""
    from operators.linop import Multiply
    from recon.diffusion.posterior import reconstruct
    from recon.solvers.pdhg import tv_recon

    val_cfg = dataclasses.replace(val_cfg, noise_std=noise_std)
    train = jnp.asarray(train, y.dtype)
    A_t = Multiply(train, tuple(A.out_shape), dtype=A.out_dtype) @ A
    y_t = train * y
    x_tv_t = tv_recon(A_t, y_t, lam=tv_lam * jnp.mean(jnp.abs(y_t)), iterations=tv_iters,
                      nonneg=True)
    x_dds_t, _ = reconstruct(denoiser, A_t, y_t, val_cfg, jax.random.fold_in(key, 1),
                             prior_var=float(denoiser.config.sigma_data) ** 2)
    ws = jnp.asarray(WEIGHTS, y.dtype)
    res = jax.vmap(lambda w: heldout_residual(A, held, w * x_dds_t + (1 - w) * x_tv_t, y))(ws)
    x_tv = tv_recon(A, y, lam=tv_lam * jnp.mean(jnp.abs(y)), iterations=tv_iters, nonneg=True)
    return {"residuals": res, "classical": x_tv}


def posterior_slice(denoiser: Any, cfg: Any, A: Any, y: jax.Array, key: jax.Array,
                    noise_std: jax.Array) -> dict:
    """The full-budget DDS of one slice, pure JAX (the same computation as ``--validate off``):
    posterior mean, std and the samples' spread energy on the measured bins,
    ``mean_k ||A (x_k - x̄)||²``, the numerator of
    :func:`recon.validated_diffusion.agreement` (one real component per bin)."""
    from recon.diffusion.posterior import reconstruct_samples
    from recon.validated_diffusion import spread_energy

    cfg = dataclasses.replace(cfg, noise_std=noise_std)
    mean, std, samples = reconstruct_samples(denoiser, A, y, cfg, key,
                                             prior_var=float(denoiser.config.sigma_data) ** 2)
    return {"mean": mean, "std": std, "spread": spread_energy(A, samples, mean)}


def add_agreement(record: dict, spread: np.ndarray, n_bins: int) -> None:
    """Put the posterior agreement (:func:`recon.validated_diffusion.agreement`, one real
    component per bin) and its flag into ``record``; ``spread`` is nan for the slices that
    kept TV (no samples: agreement nan, not flagged)."""
    from recon.validated_diffusion import AGREEMENT_LIMIT, agreement

    a = np.array([np.nan if not np.isfinite(s) else
                  agreement(float(s), float(sd), n_bins, 1, components=1)
                  for s, sd in zip(spread, record["noise_std"], strict=True)])
    record["posterior_agreement"] = a
    record["posterior_disagrees"] = np.nan_to_num(a, nan=0.0) > AGREEMENT_LIMIT


def needs_dds(record: dict) -> np.ndarray:
    """Boolean per slice: whether the chosen candidate has a DDS part (weight > 0)."""
    return np.asarray(record["weight"]) > 0


def blend(record: dict, classical: np.ndarray, dds: np.ndarray) -> np.ndarray:
    """The chosen images: ``w dds + (1 - w) tv`` per slice (``dds`` is read only where
    :func:`needs_dds`)."""
    w = np.asarray(record["weight"], np.float32).reshape(-1, *([1] * (classical.ndim - 1)))
    return (w * dds + (1 - w) * classical).astype(np.float32)


def decide_all(out: dict, sinos: np.ndarray, held: np.ndarray, noise_std: np.ndarray
               ) -> dict:
    """The record (:data:`DECISION_FIELDS`, per slice) from :func:`validation_slice`'s outputs
    over ``S`` sinograms ``sinos``: the chosen candidate and its DDS weight, TV when
    undecided."""
    y = np.asarray(sinos, np.float64)
    n_held = int(np.sum(held))
    energy = np.sum((y * held) ** 2, axis=tuple(range(1, y.ndim)))
    rec: dict[str, list] = {k: [] for k in DECISION_FIELDS}
    for i in range(y.shape[0]):
        res = np.asarray(out["residuals"][i], np.float64)
        floor = noise_floor(float(noise_std[i]), n_held, 1, float(energy[i]), components=1)
        d = decide(res, floor, n_held)
        name = CANDIDATES[d.best] if d.best is not None else UNDECIDED
        for k, v in (("heldout_residual", res), ("noise_floor", floor),
                     ("floor_spread", d.spread), ("decided", d.best is not None),
                     ("weight", WEIGHTS[CANDIDATES.index(name)]), ("choice", name),
                     ("noise_std", float(noise_std[i]))):
            rec[k].append(v)
    record = {k: np.asarray(v) for k, v in rec.items()}
    record["choice"] = np.asarray(rec["choice"], dtype="S")
    record["candidates"] = np.asarray(CANDIDATES, dtype="S")
    return record
