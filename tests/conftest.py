"""JAX flags for the whole test suite, set once before JAX is imported anywhere.

- 4 host CPU devices, so sharding tests can run on a CPU-only machine;
- 64-bit types enabled, so tests can run complex128/float64 where precision matters (operators
  must then preserve complex64/float32 inputs as such, which the property tests check);
- the ``recon`` command line's compilation cache in a temporary folder (removed at exit), never
  in the user's home (``RECON_CACHE_DIR``, inherited by subprocesses too).
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["RECON_CACHE_DIR"] = tempfile.mkdtemp(prefix="recon-test-cache-")
atexit.register(shutil.rmtree, os.environ["RECON_CACHE_DIR"], ignore_errors=True)

import jax  # noqa: E402  (after the environment above)

jax.config.update("jax_enable_x64", True)
