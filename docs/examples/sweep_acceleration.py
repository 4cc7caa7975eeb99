"""Experiment script: sweep the acceleration factor and compare classical reconstructions.

Simulates an 8-coil Shepp-Logan slice without the inverse crime, undersamples it with fastMRI-style
random masks at several accelerations, reconstructs it with zero-filled, CG-SENSE and L1-wavelet,
and prints fastMRI's PSNR/SSIM. Run ``python docs/examples/sweep_acceleration.py --size 128``.
"""

import argparse

import jax

from operators.mri import random_mask
from recon.classical_mri import reconstruct
from recon.metrics import fastmri_metrics
from recon.simulate import phantom_kspace

parser = argparse.ArgumentParser()
parser.add_argument("--size", type=int, default=128)
parser.add_argument("--accelerations", type=int, nargs="+", default=[2, 4, 8])
args = parser.parse_args()

sim = phantom_kspace((args.size, args.size), num_coils=8, key=jax.random.PRNGKey(0))
truth = sim["target"][None]
for accel in args.accelerations:
    mask = random_mask(seed=accel, num_cols=args.size, center_fractions=0.08,
                       accelerations=accel)
    kspace = (sim["kspace"] * mask)[None]  # (slices, coils, H, W)
    for method in ("zero-filled", "cg-sense", "l1-wavelet"):
        m = fastmri_metrics(truth, reconstruct(kspace, mask, method))
        print(f"{accel}x {method:12s} PSNR {m['PSNR']:6.2f} dB  SSIM {m['SSIM']:.3f}")
