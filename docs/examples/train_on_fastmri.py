"""Train a prior on your own fastMRI data.

Point a run config's ``data`` section at a directory of fastMRI multi-coil ``.h5`` files
(``"kind": "fastmri"``, ``"root": DIR``, ``"target": "complex"`` for coil-combined complex images
or ``"rss"`` for magnitudes) and train with ``recon train --config my.json --export DIR``. Resuming
is automatic: rerunning with the same ``--workdir`` continues from the latest checkpoint.
This script makes a tiny stand-in directory so that it runs anywhere in a minute; with real data
use the shipped ``experiments/configs/mri-brain.json`` sizes and many more steps.
"""

import json
import pathlib
import sys
import tempfile

import jax

from recon.cli import main
from recon.io.fastmri import write_fastmri
from recon.simulate import phantom_kspace

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
work = pathlib.Path(tempfile.mkdtemp())
data = work / "fastmri"
data.mkdir()
for i in range(3):  # three "volumes" of two slices each
    sims = [phantom_kspace((64, 64), num_coils=4, key=jax.random.PRNGKey(2 * i + s))
            for s in range(2)]
    write_fastmri(data / f"file{i}.h5", jax.numpy.stack([s["kspace"] for s in sims]))

config = {
    "name": "my-fastmri-prior",
    "model": {"complex": True, "base_channels": 8, "channel_mults": [1, 2]},
    "train": {"steps": steps, "batch_size": 2, "warmup_steps": 5},
    "data": {"kind": "fastmri", "root": str(data), "target": "complex", "patch": 32,
             "crop": 64, "acs": 16},
    "run": {"log_every": 5, "checkpoint_every": 10},
}
(work / "my.json").write_text(json.dumps(config))
assert main(["train", "--config", str(work / "my.json"), "--workdir", str(work / "run"),
             "--export", str(work / "weights"), "--no-progress"]) == 0
print("exported:", sorted(p.name for p in (work / "weights").iterdir()))
