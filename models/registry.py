"""Shipped priors by name: ``load_prior("mri-brain")``, ``load_prior("ct-ellipses")``.

Weights live in ``models/weights/<name>/`` (``params.msgpack`` + ``config.json``, written by
:func:`models.checkpoints.export_weights`); nothing is downloaded. ``README.md`` in each folder
says how the weights were made.
"""

from __future__ import annotations

import os
import pathlib

from models.checkpoints import load_weights
from models.edm import EDMDenoiser

WEIGHTS_DIR = pathlib.Path(__file__).resolve().parent / "weights"

#: Name -> short description of the shipped priors.
PRIORS = {
    "mri-brain": "complex brain MR images (synthetic contrasts, MNI ICBM152 2009a template)",
    "ct-ellipses": "dival-style random-ellipse images in [0, 1]",
}


def weights_dir() -> pathlib.Path:
    """Where shipped weights are read: ``$RECON_WEIGHTS_DIR`` if set (one sub-folder per prior
    name, e.g. weights you exported with ``recon train --export``), else the package's own."""
    return pathlib.Path(os.environ.get("RECON_WEIGHTS_DIR", WEIGHTS_DIR))


def available_priors() -> dict[str, str]:
    return dict(PRIORS)


def load_prior(name: str) -> EDMDenoiser:
    """The shipped prior ``name`` as a ready EDM denoiser ``D(x, sigma)`` (see :mod:`models.edm`).

    ``mri-brain`` takes complex images ``(H, W)`` or ``(B, H, W)`` with magnitudes in about [0, 1];
    ``ct-ellipses`` takes real images in about [0, 1]. Any size works (fully convolutional).
    """
    if name not in PRIORS:
        raise ValueError(f"unknown prior '{name}'; available: {', '.join(sorted(PRIORS))}")
    d = weights_dir() / name
    if not (d / "params.msgpack").is_file():
        raise FileNotFoundError(
            f"weights of prior {name!r} are missing from {d}; reinstall the package or retrain "
            f"with `recon train --config experiments/configs/{name}.json`"
        )
    cfg, params = load_weights(d)
    return EDMDenoiser(cfg, params)
