"""JAX flags for the whole test suite, set once before JAX is imported anywhere.

- 4 host CPU devices, so sharding tests can run on a CPU-only machine;
- 64-bit types enabled, so tests can run complex128/float64 where precision matters (operators
  must then preserve complex64/float32 inputs as such, which the property tests check).
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax

jax.config.update("jax_enable_x64", True)
