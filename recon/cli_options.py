"""Method names, library defaults and shared options of the command line, without JAX or NumPy.

``recon --help`` and ``recon COMMAND --help`` build every subparser; they import only this module
(and the standard library), so they start in a few hundredths of a second. The solver modules
(:mod:`recon.classical_mri`, :mod:`recon.slice_methods`) re-export these names.
"""

from __future__ import annotations

import argparse
from typing import Any

#: classical MRI methods of ``recon mri`` (:mod:`recon.classical_mri`)
METHODS = ("zero-filled", "cg-sense", "l1-wavelet", "tv")
#: library defaults; lam is relative (see each solver), chosen by a sweep on MNI slice 75 (a
#: tuning slice of experiments/eval_classical_mri.py, never on its test slices)
DEFAULTS: dict[str, dict[str, Any]] = {
    "zero-filled": {},
    "cg-sense": {"lam": 1e-3, "iters": 50},
    "l1-wavelet": {"lam": 4e-4, "iters": 100},
    "tv": {"lam": 8e-3, "iters": 100},
}

DIFFUSION_METHODS = ("dds", "dps", "score-mri")
#: warm-start level of ``dds`` for MRI (``recon mri --warm-start``, ``recon demo``): sampling
#: starts from the L1-wavelet estimate noised to this level (prior scale, image level 0.5),
#: chosen on the validation slices of ``experiments/eval_diffusion.py mri --data real``
#: (0.1/0.25/0.5/1 or from noise, BENCHMARKS.md)
MRI_WARM_START = 0.25


def validating(args: argparse.Namespace) -> bool:
    """Whether ``args`` asks for validated dds (``--validate``: default on for dds; ``recon
    mri`` and ``recon ct``)."""
    return args.method == "dds" and (getattr(args, "validate", None) or "on") in VALIDATE_ON


#: the ``--validate`` values that validate (``settings``: also the DDS settings, ``recon mri``)
VALIDATE_ON = ("on", "settings")


def lam_value(text: str) -> float | str:
    """``--lam``: a number or ``auto`` (argparse type; ``recon mri`` and ``recon ct``)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def add_diffusion_options(p: argparse.ArgumentParser, default_prior: str,
                          batch_option: bool = True) -> None:
    """The diffusion options shared by ``recon mri`` and ``recon ct``."""
    g = p.add_argument_group("diffusion methods (dds, dps, score-mri)")
    g.add_argument("--prior", default=default_prior,
                   help=f"shipped prior name (default {default_prior})")
    g.add_argument("--nfe", type=int, default=25,
                   help="network evaluations per sample (default 25)")
    g.add_argument("--samples", type=int, default=2,
                   help="posterior samples K, drawn as antithetic pairs when K is even; the "
                        "output is their mean and, for K > 1, reconstruction_std (default 2: "
                        "50 network evaluations in all, which beat one sample of 50 by 1.3 dB "
                        "in BENCHMARKS.md)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--noise-std", type=float, default=None,
                   help="measurement noise std per real component, in data units "
                        "(default: estimated from the data: the k-space periphery for MRI, "
                        "the air bins of each sinogram for CT; logged and stored in the output)")
    if batch_option:
        g.add_argument("--batch", type=int, default=0,
                       help="slices per batch (default: number of devices)")
