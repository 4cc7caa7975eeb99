"""Priors: denoiser networks, noise schedules, training losses, checkpoints, shipped priors.

May import ``operators``; never ``recon`` or ``experiments``.
"""
