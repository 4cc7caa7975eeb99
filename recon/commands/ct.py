"""``recon ct IN.h5 --out OUT.h5 --method ...``: CT reconstruction from post-log sinograms.

Input: the CT HDF5 format of :mod:`recon.io.ct_format`. Output: HDF5 with ``reconstruction``
float32 ``(slices, H, W)`` (``(D, H, W)`` for cone beam) in the input's attenuation units, and
``reconstruction_std`` with ``--samples`` > 1; the options are stored as attributes. The file is
written to a temporary name and renamed, so a failure leaves nothing behind.

Without ``--noise-std`` the diffusion methods use the noise std per bin estimated from each
slice's sinogram (:mod:`recon.ct.noise_estimate`), logged and stored as ``noise_std_estimate``
``(slices,)``. ``--method tv --lam auto`` chooses each slice's weight by measurement-split
validation on held-out sinogram bins (:func:`recon.ct.classical.validated_tv`) and stores the
record in the group ``validation`` (``lam``, ``validated``, ``candidates``,
``heldout_residual``, ``noise_floor``, ``decided``, ``noise_std``), as ``recon mri --lam auto``
does.
"""

from __future__ import annotations

import argparse
import logging
import time

from recon.cli_options import DIFFUSION_METHODS, add_diffusion_options, lam_value, validating
from recon.errors import UserError

CLASSICAL = ("fbp", "tv", "sirt", "cgls")
log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ct",
        help="reconstruct CT sinograms (FBP, TV, SIRT, CGLS, diffusion)",
        description="Reconstructs every slice of a CT HDF5 file (see the README for the format).",
    )
    p.add_argument("input", help="CT HDF5 file with /sinogram, /angles and geometry attributes")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--method", default="fbp", choices=CLASSICAL + DIFFUSION_METHODS,
                   help="reconstruction method (default fbp)")
    p.add_argument("--filter", default="hann",
                   help="FBP filter: ram-lak, shepp-logan, cosine, hamming, hann (default hann)")
    p.add_argument("--lam", type=lam_value, default=None,
                   help="tv: weight relative to the mean sinogram value (default 0.1), or "
                        "'auto': chosen per slice by measurement-split validation (held-out "
                        "sinogram bins; the record goes to /validation in the output)")
    p.add_argument("--holdout", type=float, default=None,
                   help="--lam auto and dds --validate on: held-out fraction of the views "
                        "(whole views), in (0, 0.5] (default 0.2)")
    p.add_argument("--validate", default=None, metavar="on|off",
                   help="dds: check each slice against held-out views (measurement-split "
                        "validation, as --lam auto): TV, the dds mean and blends of the two are "
                        "scored and the best kept; undecided keeps the TV image; the record "
                        "goes to /validation in the output (default on for dds)")
    p.add_argument("--iters", type=int, default=None,
                   help="iterations of tv / sirt / cgls (default 300 / 100 / 30)")
    add_diffusion_options(p, default_prior="ct-ellipses")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from recon import interrupts
    from recon.io.output_path import check_output_file

    if args.batch < 0:
        raise UserError(f"--batch must be >= 0 (0: one slice per device), got {args.batch}")
    check_options(args)
    check_output_file(args.out, inputs=[args.input])
    import jax
    import jax.numpy as jnp
    import numpy as np

    from recon.io.ct_format import read_ct
    from recon.slice_methods import check_finite, diffusion_method, run_in_batches

    data = read_ct(args.input)
    interrupts.check()
    try:
        A = data.operator()
    except ValueError as err:
        raise UserError(f"{args.input}: geometry does not describe a valid projector: {err}") \
            from None
    sino = data.sinogram[None] if data.geometry == "cone" else data.sinogram
    if data.geometry == "cone" and validating(args):
        if args.validate == "on":
            raise UserError(f"{args.input}: --validate on is for 2-D (parallel and fan beam) "
                            "sinograms, not cone beam")
        args.validate = "off"  # the default for cone beam: one volume, nothing to compare
    t0 = time.perf_counter()
    std = noise = record = None
    if args.method == "fbp":
        from recon.ct.fbp import fbp

        try:
            run_fbp = jax.jit(jax.vmap(lambda s: fbp(A, s, filter=args.filter)))
            image = np.asarray(run_fbp(jnp.asarray(sino)))
        except ValueError as err:
            raise UserError(str(err)) from None
        interrupts.check()
    elif args.lam == "auto":
        from recon.ct.classical import split_views, tv_weighted_solver, validated_tv

        try:
            split_views(tuple(A.out_shape), args.holdout)  # refuse what cannot be split
            solve = tv_weighted_solver(args.iters)
        except ValueError as err:
            raise UserError(f"{args.input}: --lam auto: {err}") from None
        noise = noise_levels(args, sino)
        record: dict[str, list] = {}
        size = max(1, args.batch or 8)
        for start in range(0, sino.shape[0], size):
            interrupts.check()
            part = slice(start, start + size)
            rec = validated_tv(A, sino[part], noise["std"][part], iters=args.iters,
                               fraction=args.holdout, seed=args.seed)
            for k, v in rec.items():
                record.setdefault(k, []).append(v)
        record = {k: np.concatenate(v) for k, v in record.items()}
        record["noise_std"] = noise["std"]
        decided = int(record["decided"].sum())
        log.info("recon ct: --lam auto chose %s (relative) for %d slice(s); %d undecided kept the "
                 "default", ", ".join(f"{v:.3g}" for v in record["lam"][:8])
                 + (" ..." if len(record["lam"]) > 8 else ""), len(record["lam"]),
                 len(record["lam"]) - decided)
        image = run_in_batches(lambda ex, op: solve(op, ex[0], ex[1]),
                               (jnp.asarray(sino), jnp.asarray(record["lam"], jnp.float32)), A,
                               batch=args.batch, desc=args.method, quiet=args.quiet)
    elif args.method in ("tv", "sirt", "cgls"):
        from recon.ct.classical import slice_solver

        try:
            solve = slice_solver(args.method, lam=args.lam, iters=args.iters)
        except ValueError as err:
            raise UserError(str(err)) from None
        image = run_in_batches(lambda y, op: solve(op, y), jnp.asarray(sino), A,
                               batch=args.batch, desc=args.method, quiet=args.quiet)
    elif validating(args):
        keys = jax.random.split(jax.random.PRNGKey(args.seed), sino.shape[0])
        image, std, record, noise = validated_dds(args, A, sino, keys)
    else:
        recon_slice = diffusion_method(args, expects_complex=False)
        keys = jax.random.split(jax.random.PRNGKey(args.seed), sino.shape[0])
        noise = noise_levels(args, sino)
        image, std = run_in_batches(
            lambda ex, op: recon_slice(op, ex[0], ex[1], ex[2]),
            (jnp.asarray(sino), keys, jnp.asarray(noise["std"], jnp.float32)), A,
            batch=args.batch, desc=args.method, quiet=args.quiet,
        )
    check_finite(image, f"{args.method} reconstruction")
    seconds = time.perf_counter() - t0
    if data.geometry == "cone":
        image = image[0]
        std = None if std is None else std[0]
    from recon.io.hdf5 import atomic_h5

    with atomic_h5(args.out) as f:
        f.create_dataset("reconstruction", data=image.astype(np.float32))
        if std is not None and args.samples > 1:
            f.create_dataset("reconstruction_std", data=std.astype(np.float32))
        for key, value in vars(args).items():
            if key != "func" and value is not None:
                f.attrs[key] = value
        if record is not None:
            g = f.create_group("validation")
            if args.method == "dds":
                from recon.ct.validated_dds import ABOUT

                g.attrs["about"] = ABOUT
                g.attrs["reconstruction_std"] = ("the std of the chosen blend over the posterior "
                                                 "samples: weight x the DDS std, 0 where tv was "
                                                 "kept")
            else:
                g.attrs["about"] = ("measurement-split validation per slice (recon."
                                    "measurement_split, recon.ct.classical.validated_tv): "
                                    "candidate weights, normalised held-out residuals, the "
                                    "noise floor, whether it decided, the weight used, the "
                                    "noise std it assumed")
            from recon.ct.classical import SCHEME

            g.attrs["holdout"] = SCHEME.fraction if args.holdout is None else args.holdout
            g.attrs["heldout"] = "whole views" if SCHEME.lines else "random bins"
            g.attrs["folds"] = SCHEME.folds
            for k, v in record.items():
                g.create_dataset(k, data=np.asarray(v))
        if noise is not None and noise["method"] != "given":
            d = f.create_dataset("noise_std_estimate", data=noise["std"].astype(np.float32))
            d.attrs["about"] = ("white-noise std per sinogram bin estimated from each slice's "
                                "sinogram (recon.ct.noise_estimate; one for a cone-beam scan), "
                                "used by the diffusion method because --noise-std was not given")
            d.attrs["estimator"] = noise["method"]
        f.attrs["seconds"] = seconds
        f.attrs["geometry"] = data.geometry
    from recon import console

    console.status(f"recon ct: {args.method} on {sino.shape[0]} slice(s) in {seconds:.1f} s "
                   f"-> {args.out}")
    return 0


def check_options(args: argparse.Namespace) -> None:
    """Refuse option values no reconstruction can use (before any data are read)."""
    import math

    if args.lam == "auto" and args.method != "tv":
        raise UserError(f"--lam auto chooses the weight of tv, not of {args.method}")
    if args.noise_std is not None and not (math.isfinite(args.noise_std)
                                           and args.noise_std >= 0):
        raise UserError(f"--noise-std must be a finite number >= 0, got {args.noise_std}")
    if args.validate not in (None, "on", "off"):
        raise UserError(f"--validate must be 'on' or 'off', got {args.validate!r}")
    if args.validate == "on" and args.method != "dds":
        raise UserError(f"--validate on checks dds against tv, not {args.method}")
    if args.holdout is not None:
        if args.lam != "auto" and not validating(args):
            raise UserError("--holdout is the held-out fraction of --lam auto and of dds "
                            "--validate on; give one of them")
        if not (math.isfinite(args.holdout) and 0 < args.holdout <= 0.5):
            raise UserError(f"--holdout must be in (0, 0.5], got {args.holdout}")


def validated_dds(args: argparse.Namespace, A, sino, keys) -> tuple:
    """:mod:`recon.ct.validated_dds` over every slice: images, std, record, noise level (given,
    or estimated per slice after the options and the prior were checked). The full-budget DDS
    runs only for the slices whose choice has a DDS part; the std is that of the chosen blend
    over the posterior samples (``w`` times the DDS std; 0 where TV was kept)."""
    import jax.numpy as jnp
    import numpy as np

    from recon.ct import validated_dds as vd
    from recon.ct.classical import DEFAULT_ITERS, DEFAULT_TV_LAM, split_views
    from recon.diffusion.posterior import DiffusionConfig
    from recon.slice_methods import cached_prior, diffusion_method, run_in_batches
    from recon.validated_diffusion import validation_config

    diffusion_method(args, expects_complex=False)  # checks the options and the prior
    try:
        train, held = split_views(tuple(A.out_shape), args.holdout)
    except ValueError as err:
        raise UserError(f"{args.input}: {err} (--validate off skips the validation)") from None
    prior = cached_prior(args.prior)
    noise = noise_levels(args, sino)
    sigma = jnp.asarray(noise["std"], jnp.float32)
    val_cfg = validation_config(DiffusionConfig(method="dds", nfe=args.nfe,
                                                n_samples=args.samples, noise_std=1.0))
    tv_lam = DEFAULT_TV_LAM if args.lam is None else float(args.lam)
    tv_iters = DEFAULT_ITERS["tv"] if args.iters is None else int(args.iters)

    def validate(ex, op):
        y, key, s = ex
        return vd.validation_slice(prior, val_cfg, tv_lam, tv_iters, op, y, key, s,
                                   jnp.asarray(train), jnp.asarray(held))

    y_all = jnp.asarray(sino)
    out = run_in_batches(validate, (y_all, keys, sigma), A, batch=args.batch,
                         desc="validation", quiet=args.quiet)
    if not all(np.all(np.isfinite(out[k])) for k in ("classical", "residuals")):
        raise UserError(f"{args.input}: validation produced NaN or Inf; no output written")
    record = vd.decide_all(out, np.asarray(sino), held, np.asarray(noise["std"]))
    need = np.flatnonzero(vd.needs_dds(record))
    dds, std = np.zeros_like(out["classical"]), np.zeros_like(out["classical"])
    spread = np.full(len(dds), np.nan)
    if need.size:
        cfg = DiffusionConfig(method="dds", nfe=args.nfe, n_samples=args.samples)
        post = run_in_batches(
            lambda ex, op: vd.posterior_slice(prior, cfg, op, ex[0], ex[1], ex[2]),
            (y_all[need], keys[need], sigma[need]), A, batch=args.batch, desc=args.method,
            quiet=args.quiet)
        dds[need], std[need], spread[need] = post["mean"], post["std"], post["spread"]
    vd.add_agreement(record, spread, int(np.prod(np.shape(sino)[1:])))
    images = vd.blend(record, out["classical"], dds)
    std = np.abs(std) * np.asarray(record["weight"], np.float32)[:, None, None]
    chosen = record["choice"].astype(str)
    log.info("recon ct: validated dds chose %s", ", ".join(
        f"{name} x{int(np.sum(chosen == name))}" for name in dict.fromkeys(chosen)))
    return images, std, record, noise


def noise_levels(args: argparse.Namespace, sino) -> dict:
    """The noise std per slice: ``--noise-std`` (``method`` "given"), else estimated from each
    sinogram (:func:`estimated_noise`)."""
    import numpy as np

    if args.noise_std is None:
        return estimated_noise(sino, args.input)
    return {"std": np.full(np.shape(sino)[0], float(args.noise_std)), "method": "given"}


def estimated_noise(sino, source: str) -> dict:
    """Per slice (one for a cone-beam scan): the noise std estimated from the sinogram
    (:mod:`recon.ct.noise_estimate`), logged at normal verbosity."""
    import numpy as np

    from recon.ct.noise_estimate import estimate_sinogram_noise

    try:
        ests = [estimate_sinogram_noise(s) for s in np.asarray(sino)]
    except ValueError as err:
        raise UserError(f"{source}: cannot estimate the noise level: {err}") from None
    values = np.array([e.std for e in ests], np.float64)
    methods = sorted({e.method for e in ests})
    how = ("air outside the object" if methods == ["air"] else
           "detector differences (no air found: an upper bound)" if methods == ["differences"]
           else "air, or detector differences where no air was found")
    if values.size == 1:
        log.info("recon ct: noise std %.4g per bin, estimated from the sinogram (%s); "
                 "--noise-std overrides", values[0], how)
    else:
        log.info("recon ct: noise std per bin estimated from each slice's sinogram (%s): "
                 "median %.4g, range %.4g-%.4g over %d slices; --noise-std overrides", how,
                 np.median(values), values.min(), values.max(), values.size)
    return {"std": values, "method": ",".join(e.method for e in ests)}
