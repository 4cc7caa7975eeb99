"""Make ``recon/data/demo_brain_t1.npz``: the MRI slice that ``recon demo`` reconstructs.

It is the axial plane z = 86 of the MNI ICBM152 2009a symmetric T1 template that the nilearn
wheel carries, inside the held-out band ``[HOLDOUT_Z0, HOLDOUT_Z1)`` of ``models.data.brain``
that no training crop of the shipped ``mri-brain`` prior ever reads, centre-cropped to 192x224,
normalised to a maximum of 1 and stored as float16 (86 kB). Run from the repository root::

    python -m experiments.make_demo_data
"""

from __future__ import annotations

import pathlib

import numpy as np

from models.data.brain import HOLDOUT_Z0, HOLDOUT_Z1, load_volumes

Z = 86
SIZE = (192, 224)
OUT = pathlib.Path(__file__).resolve().parents[1] / "recon" / "data" / "demo_brain_t1.npz"


def main() -> None:
    assert HOLDOUT_Z0 <= Z < HOLDOUT_Z1, "the demo slice must lie in the held-out band"
    t1 = load_volumes()[3]  # (x, y, z), normalised to [0, 1]
    nx, ny = t1.shape[:2]
    x0, y0 = (nx - SIZE[0]) // 2, (ny - SIZE[1]) // 2
    plane = t1[x0 : x0 + SIZE[0], y0 : y0 + SIZE[1], Z]
    plane = plane / plane.max()
    np.savez_compressed(OUT, image=plane.astype(np.float16), z=Z)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB), shape {plane.shape}")


if __name__ == "__main__":
    main()
