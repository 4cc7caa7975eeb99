"""Wavelet operator case (recon.wavelets) for the generic property tests (kept small: CPU)."""

import jax.numpy as jnp

from recon.wavelets import wavelet
from tests.operators.registry import COMPLEX, register


@register("wavelet-db2-padded", dtypes=COMPLEX)
def _(dtype):
    return wavelet((7, 10), "db2", 2, jnp.dtype(dtype))
