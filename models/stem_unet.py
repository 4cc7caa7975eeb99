"""A U-Net that never convolves at full resolution with many channels, with global self-attention.

The backbone ``F(x, c_noise)`` of :mod:`models.unet` spends most of its CPU time in 3x3
convolutions at the input resolution (32 channels at 256x256). This variant keeps the same
residual blocks and noise conditioning (FiLM from a sinusoidal embedding, zero-initialised last
convolutions, no normalisation in the convolutional path) and changes where the work is done:

- **Space-to-depth stem** ("pixel unshuffle", Shi et al. 2016, "Real-Time Single Image and Video
  Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network"): the input
  ``(H, W, C)`` is rearranged losslessly into ``(H/s, W/s, s^2 C)`` before the first
  convolution, and the output head predicts ``s^2 C`` channels that are rearranged back (depth to
  space). With ``s = 2`` every convolution runs on at most a quarter of the pixels.
- **A deep bottleneck with multi-head self-attention** (Vaswani et al. 2017; the attention blocks
  of DDPM, Ho et al. 2020, and of DDPM++, Song et al. 2021) at the coarsest level (8x8 to 16x16
  tokens for 128x128 and 256x256 inputs after the stem and the downsamplings), so every output
  pixel sees the whole image: a global receptive field at a cost of ``(HW/4^L)^2`` token pairs.
  Attention uses a per-token LayerNorm (statistics over channels only, so, like the rest of the
  network, it does not depend on the image size) and a zero-initialised output projection, so the
  untrained block is the identity.

Upsampling is nearest-neighbour without a convolution of its own (the first convolution of the next
block, after the skip concatenation, mixes the copies): in :mod:`models.unet` the 3x3 convolution
after each upsampling ran at the finer resolution with the coarser width and cost about a fifth
of all operations.

The network stays fully convolutional apart from the attention, which accepts any number of
tokens: the same weights run on training crops and on full reconstructions. Spatial sizes must be
divisible by ``stem * 2 ** (len(channel_mults) - 1)`` (:class:`models.edm.EDMDenoiser` pads).
``dtype`` sets the computation type of convolutions and attention (``bfloat16`` halves memory
traffic where the hardware has bf16 units; parameters, the embedding and the output stay float32).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from models.unet import noise_embedding

_zero = nn.initializers.zeros


def space_to_depth(x: jnp.ndarray, s: int) -> jnp.ndarray:
    """``(B, H, W, C) -> (B, H/s, W/s, s*s*C)``; pixel ``(i, j)`` of block ``(p, q)`` goes to
    channel ``(i s + j) C + c`` of pixel ``(p, q)``."""
    if s == 1:
        return x
    b, h, w, c = x.shape
    x = x.reshape(b, h // s, s, w // s, s, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h // s, w // s, s * s * c)


def depth_to_space(x: jnp.ndarray, s: int) -> jnp.ndarray:
    """Inverse of :func:`space_to_depth`."""
    if s == 1:
        return x
    b, h, w, cs = x.shape
    c = cs // (s * s)
    x = x.reshape(b, h, w, s, s, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h * s, w * s, c)


class ResBlock(nn.Module):
    """``(x + conv(silu(FiLM(conv(silu(x)), emb)))) / sqrt(2)``; 1x1 skip if widths differ."""

    features: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, emb: jnp.ndarray) -> jnp.ndarray:
        h = nn.Conv(self.features, (3, 3), dtype=self.dtype)(nn.silu(x))
        scale, shift = jnp.split(nn.Dense(2 * self.features)(emb), 2, axis=-1)
        h = h * (1.0 + scale[:, None, None, :]) + shift[:, None, None, :]
        h = nn.Conv(self.features, (3, 3), kernel_init=_zero, dtype=self.dtype)(nn.silu(h))
        if x.shape[-1] != self.features:
            x = nn.Conv(self.features, (1, 1), dtype=self.dtype)(x)
        return ((x + h) * (1.0 / math.sqrt(2.0))).astype(self.dtype)


class SelfAttention(nn.Module):
    """``x + W_o MHA(LN(x))`` over all ``H W`` positions (pre-norm, zero-initialised ``W_o``)."""

    heads: int = 4
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        b, h, w, c = x.shape
        t = nn.LayerNorm(dtype=self.dtype)(x).reshape(b, h * w, c)
        qkv = nn.Dense(3 * c, dtype=self.dtype)(t).reshape(b, h * w, 3, self.heads, c // self.heads)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(c // self.heads)
        weights = nn.softmax(logits.astype(jnp.float32), axis=-1).astype(self.dtype)
        a = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, h * w, c)
        a = nn.Dense(c, kernel_init=_zero, dtype=self.dtype)(a)
        return x + a.reshape(b, h, w, c).astype(x.dtype)


class StemUNet(nn.Module):
    """Space-to-depth stem, ``len(channel_mults)`` U-Net levels, attention at the bottleneck."""

    out_channels: int
    base_channels: int = 32
    channel_mults: Sequence[int] = (1, 2, 2, 2)
    num_res_blocks: int = 1
    emb_dim: int = 128
    stem: int = 2
    mid_blocks: int = 2
    attention_heads: int = 4
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jnp.ndarray, c_noise: jnp.ndarray) -> jnp.ndarray:
        dt = self.dtype
        emb = noise_embedding(c_noise, self.emb_dim)
        emb = nn.Dense(self.emb_dim)(emb)
        emb = nn.Dense(self.emb_dim)(nn.silu(emb))
        emb = nn.silu(emb)

        h = nn.Conv(self.base_channels, (3, 3), dtype=dt)(space_to_depth(x, self.stem).astype(dt))
        skips = [h]
        n_levels = len(self.channel_mults)
        for level, mult in enumerate(self.channel_mults):
            for _ in range(self.num_res_blocks):
                h = ResBlock(self.base_channels * mult, dt)(h, emb)
                skips.append(h)
            if level < n_levels - 1:
                h = nn.Conv(h.shape[-1], (3, 3), strides=(2, 2), dtype=dt)(h)
                skips.append(h)
        mid = self.base_channels * self.channel_mults[-1]
        for _ in range(self.mid_blocks):
            h = ResBlock(mid, dt)(h, emb)
            if self.attention_heads > 0:
                h = SelfAttention(self.attention_heads, dt)(h)
        for level in reversed(range(n_levels)):
            mult = self.channel_mults[level]
            for _ in range(self.num_res_blocks + 1):
                h = jnp.concatenate([h, skips.pop()], axis=-1)
                h = ResBlock(self.base_channels * mult, dt)(h, emb)
            if level > 0:  # nearest-neighbour upsampling; the next block's 3x3 conv mixes
                h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)
        h = nn.Conv(self.out_channels * self.stem**2, (3, 3), kernel_init=_zero, dtype=dt)(
            nn.silu(h)
        )
        return depth_to_space(h.astype(jnp.float32), self.stem)
