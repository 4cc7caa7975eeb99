"""A small, fully convolutional DDPM++/NCSN++-like U-Net backbone ``F(x, c_noise)`` in flax.linen.

Layout follows the DDPM++ family (Song et al. 2021, "Score-Based Generative Modeling through
Stochastic Differential Equations"; Ho et al. 2020): a positional embedding of the noise
conditioning ``c_noise`` feeds every residual block through a learned scale and shift (FiLM), the
encoder keeps one skip per block, the decoder concatenates them back, and residual branches are
scaled by ``1/sqrt(2)``. Two deliberate departures keep it small and size-agnostic:

- no attention and no normalisation layers (GroupNorm statistics depend on the image size; the EDM
  preconditioning already feeds the network unit-variance inputs), so the same weights run on
  64x64 training crops and 256x256 reconstructions;
- the last convolution of every residual branch and of the output head is zero-initialised, which
  makes the untrained network the identity-plus-zero map and training stable without norms.

Input ``x`` is NHWC (real channels), ``c_noise`` has shape ``(batch,)``. Spatial sizes must be
divisible by ``2 ** (len(channel_mults) - 1)``; :class:`models.edm.EDMDenoiser` pads to that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

_zero = nn.initializers.zeros


def noise_embedding(c_noise: jnp.ndarray, dim: int) -> jnp.ndarray:
    """Transformer-style sinusoidal embedding of ``c_noise`` (shape ``(B,)``) into ``(B, dim)``."""
    half = dim // 2
    freqs = jnp.exp(-math.log(10_000.0) * jnp.arange(half, dtype=jnp.float32) / half)
    args = c_noise.astype(jnp.float32)[:, None] * freqs[None, :] * 100.0
    return jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)


class ResBlock(nn.Module):
    """``(x + conv(silu(FiLM(conv(silu(x)), emb)))) / sqrt(2)``; 1x1 skip if widths differ."""

    features: int

    @nn.compact
    def __call__(self, x: jnp.ndarray, emb: jnp.ndarray) -> jnp.ndarray:
        h = nn.Conv(self.features, (3, 3))(nn.silu(x))
        scale, shift = jnp.split(nn.Dense(2 * self.features)(emb), 2, axis=-1)
        h = h * (1.0 + scale[:, None, None, :]) + shift[:, None, None, :]
        h = nn.Conv(self.features, (3, 3), kernel_init=_zero)(nn.silu(h))
        if x.shape[-1] != self.features:
            x = nn.Conv(self.features, (1, 1))(x)
        return (x + h) * (1.0 / math.sqrt(2.0))


class UNet(nn.Module):
    """Small U-Net: ``len(channel_mults)`` resolutions, ``num_res_blocks`` blocks per resolution."""

    out_channels: int
    base_channels: int = 32
    channel_mults: Sequence[int] = (1, 2, 2)
    num_res_blocks: int = 1
    emb_dim: int = 128

    @nn.compact
    def __call__(self, x: jnp.ndarray, c_noise: jnp.ndarray) -> jnp.ndarray:
        emb = noise_embedding(c_noise, self.emb_dim)
        emb = nn.Dense(self.emb_dim)(emb)
        emb = nn.Dense(self.emb_dim)(nn.silu(emb))
        emb = nn.silu(emb)

        h = nn.Conv(self.base_channels, (3, 3))(x)
        skips = [h]
        n_levels = len(self.channel_mults)
        for level, mult in enumerate(self.channel_mults):
            for _ in range(self.num_res_blocks):
                h = ResBlock(self.base_channels * mult)(h, emb)
                skips.append(h)
            if level < n_levels - 1:
                h = nn.Conv(h.shape[-1], (3, 3), strides=(2, 2))(h)
                skips.append(h)
        mid = self.base_channels * self.channel_mults[-1]
        h = ResBlock(mid)(h, emb)
        h = ResBlock(mid)(h, emb)
        for level in reversed(range(n_levels)):
            mult = self.channel_mults[level]
            for _ in range(self.num_res_blocks + 1):
                h = jnp.concatenate([h, skips.pop()], axis=-1)
                h = ResBlock(self.base_channels * mult)(h, emb)
            if level > 0:
                _b, _hh, _ww, c = h.shape
                h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)
                h = nn.Conv(c, (3, 3))(h)
        h = nn.Conv(self.out_channels, (3, 3), kernel_init=_zero)(nn.silu(h))
        return h
