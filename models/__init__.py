"""Priors: denoiser networks, noise schedules, training losses, checkpoints, shipped priors.

May import ``operators``; never ``recon`` or ``experiments``.
"""

from models.edm import EDMDenoiser, ModelConfig
from models.registry import available_priors, load_prior

__all__ = ["EDMDenoiser", "ModelConfig", "available_priors", "load_prior"]
