"""``recon sample``: draw images from a shipped prior (unconditional generation)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import shutil
import tempfile
import time

from recon.errors import UserError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="draw images from a prior (data synthesis)",
        description="Draws K images from a shipped prior with the DDIM/ancestral sampler and "
        "writes them to DIR as PNG files and one samples.npy array (magnitude for complex priors).",
    )
    p.add_argument("--prior", required=True, help="prior name, e.g. mri-brain or ct-ellipses")
    p.add_argument("--n", type=int, default=4, help="number of images K (default 4)")
    p.add_argument("--out", required=True, help="output directory (created; files replaced)")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--nfe", type=int, default=50,
                   help="network evaluations per image (default 50)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UserError(f"--n must be >= 1, got {args.n}")
    if args.nfe < 1:
        raise UserError(f"--nfe must be >= 1, got {args.nfe}")
    if args.size < 8:
        raise UserError(f"--size must be >= 8 pixels, got {args.size}")
    from recon import interrupts
    from recon.io.output_path import check_output_dir

    check_output_dir(args.out)
    import jax
    import jax.numpy as jnp
    import numpy as np

    from models import load_prior
    from recon.diffusion.unconditional import draw

    try:
        denoiser = load_prior(args.prior)
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from None
    dtype = jnp.complex64 if denoiser.config.complex else jnp.float32
    t0 = time.perf_counter()
    interrupts.check()
    images = draw(denoiser, (args.size, args.size), dtype, args.n, jax.random.PRNGKey(args.seed),
                  nfe=args.nfe)
    interrupts.check()
    images = np.abs(np.asarray(images)) if denoiser.config.complex else np.asarray(images)
    if not np.all(np.isfinite(images)):
        raise UserError("sampling produced NaN or Inf; no output written")
    seconds = time.perf_counter() - t0
    write_samples(pathlib.Path(args.out), images, {
        "prior": args.prior, "n": args.n, "size": args.size, "nfe": args.nfe, "seed": args.seed,
        "seconds": round(seconds, 3),
    })
    from recon import console

    console.status(f"wrote {args.n} samples of {args.prior} to {args.out} ({seconds:.1f} s)")
    return 0


def write_samples(out: pathlib.Path, images, meta: dict) -> None:
    """Write PNGs, ``samples.npy`` and ``samples.json`` into ``out`` via a temporary folder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from recon import interrupts
    from recon.io.output_path import new_file_mode

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for i, img in enumerate(images):
            plt.imsave(tmp / f"sample_{i:03d}.png", img, cmap="gray", vmin=0.0,
                       vmax=max(float(np.percentile(img, 99.5)), 1e-6))
        np.save(tmp / "samples.npy", images.astype(np.float32))
        (tmp / "samples.json").write_text(json.dumps(meta, indent=2))
        interrupts.commit()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    out.mkdir(exist_ok=True)
    for f in tmp.iterdir():
        os.chmod(f, new_file_mode())
        os.replace(f, out / f.name)
    tmp.rmdir()
