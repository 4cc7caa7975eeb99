"""Reconstruct a fastMRI-layout HDF5 file, from Python or the command line.

Writes a small simulated multi-coil file (``kspace`` (slices, coils, H, W), ``mask``), then runs
the same thing a user types, ``recon mri IN.h5 --out OUT.h5 --method l1-wavelet``, and scores the
result with ``recon metrics``. For a real fastMRI file skip the first step.
"""

import pathlib
import sys
import tempfile

import jax

from operators.mri import random_mask
from recon.cli import main
from recon.io.fastmri import write_fastmri
from recon.simulate import phantom_kspace

size = int(sys.argv[1]) if len(sys.argv) > 1 else 128
work = pathlib.Path(tempfile.mkdtemp())
sim = phantom_kspace((size, size), num_coils=4, key=jax.random.PRNGKey(1))
mask = random_mask(seed=0, num_cols=size, center_fractions=0.08, accelerations=4)
write_fastmri(work / "in.h5", (sim["kspace"] * mask)[None], mask=mask,
              reference=sim["target"][None])
write_fastmri(work / "ref.h5", sim["kspace"][None], reference=sim["target"][None])

assert main(["mri", str(work / "in.h5"), "--out", str(work / "out.h5"),
             "--method", "l1-wavelet"]) == 0
assert main(["metrics", str(work / "out.h5"), str(work / "ref.h5")]) == 0
print("reconstruction written to", work / "out.h5")
