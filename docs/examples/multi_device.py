"""Run a batch of slices across devices with ``jax.sharding``.

``recon.parallel.map_batched`` vmaps a per-slice function and splits the batch axis over all
local devices (GPUs, TPU cores, or CPU devices forced with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``); the result equals a one-device run.
On several hosts, call ``jax.distributed.initialize()`` first on every host; each host then
sees its local devices and reconstructs its share of the slices.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax
import jax.numpy as jnp
import numpy as np

from operators.mri import random_mask, sense
from recon.parallel import map_batched
from recon.solvers.cg import cg_sense

n, coils, slices = 64, 4, 6
rng = np.random.default_rng(0)
maps = jnp.asarray(rng.standard_normal((coils, n, n)) + 1j * rng.standard_normal((coils, n, n)),
                   jnp.complex64)
mask = jnp.asarray(random_mask(0, n, 0.08, 4), jnp.float32)
A = sense(maps, mask)
images = jnp.asarray(rng.standard_normal((slices, n, n)), jnp.complex64)
kspace = jax.vmap(A)(images)


def recon_slice(y, op):
    return cg_sense(op, y, lam=1e-3, maxiter=20).x


sharded = map_batched(recon_slice, kspace, A)
single = map_batched(recon_slice, kspace, A, devices=jax.local_devices()[:1])
print(f"{len(jax.local_devices())} devices; max difference to one device:",
      float(np.max(np.abs(np.asarray(sharded) - np.asarray(single)))))
