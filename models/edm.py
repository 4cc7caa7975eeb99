"""EDM-preconditioned denoiser ``D(x, sigma)`` and the score derived from it.

Karras et al. 2022 ("Elucidating the Design Space of Diffusion-Based Generative Models", Table 1,
eq. 7) write the denoiser around a raw network ``F`` as

    D(x, s) = c_skip(s) x + c_out(s) F(c_in(s) x, c_noise(s)),
    c_skip = sd^2 / (s^2 + sd^2),  c_out = s sd / sqrt(s^2 + sd^2),
    c_in = 1 / sqrt(s^2 + sd^2),   c_noise = ln(s) / 4,

with ``sd`` the data standard deviation. ``D`` estimates ``E[y | y + s n = x]`` for
``n ~ N(0, I)``, so by Tweedie's formula the score of the noised density is
``grad log p_s(x) = (D(x, s) - x) / s^2``.

Images enter and leave as ``(H, W)`` or ``(B, H, W)`` arrays: real images for a one-channel model,
complex images for a two-channel model (``complex=True``). Complex images are split into
real/imaginary channels *only inside this wrapper*; the noise model is then ``s`` per real
component (complex noise ``s (n_r + i n_i)``). The network runs in float32 and the result is cast
back to the input dtype. Sizes that the U-Net cannot halve enough times are reflect-padded and
cropped back.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from models.stem_unet import StemUNet
from models.unet import UNet

#: backbones by ``ModelConfig.architecture``: the original U-Net (:mod:`models.unet`) and the
#: space-to-depth U-Net with bottleneck attention (:mod:`models.stem_unet`)
ARCHITECTURES = ("unet", "stem-unet")
COMPUTE_DTYPES = ("float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the architecture and preconditioning (stored with every checkpoint)."""

    complex: bool = False
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    emb_dim: int = 128
    sigma_data: float = 0.3
    architecture: str = "unet"
    #: ``stem-unet`` only: space-to-depth factor, bottleneck blocks, attention heads (0: none)
    stem: int = 1
    mid_blocks: int = 2
    attention_heads: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mults", tuple(int(m) for m in self.channel_mults))
        if self.base_channels < 1 or not self.channel_mults or min(self.channel_mults) < 1:
            raise ValueError(f"invalid network widths in {self}")
        if self.sigma_data <= 0:
            raise ValueError(f"sigma_data must be positive, got {self.sigma_data}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"model.architecture must be one of {list(ARCHITECTURES)}, "
                             f"got {self.architecture!r}")
        if self.dtype not in COMPUTE_DTYPES:
            raise ValueError(f"model.dtype must be one of {list(COMPUTE_DTYPES)}, "
                             f"got {self.dtype!r}")
        if self.architecture == "unet" and (self.stem, self.attention_heads,
                                            self.dtype) != (1, 0, "float32"):
            raise ValueError("model.stem, model.attention_heads and model.dtype are options of "
                             "architecture 'stem-unet'; 'unet' takes stem 1, no attention, "
                             "float32")
        if self.stem < 1 or self.mid_blocks < 0 or self.attention_heads < 0:
            raise ValueError(f"invalid stem/mid_blocks/attention_heads in {self}")
        if self.attention_heads and (self.base_channels * self.channel_mults[-1]) % (
                self.attention_heads):
            raise ValueError("the bottleneck width base_channels * channel_mults[-1] must be "
                             "divisible by model.attention_heads")

    @property
    def channels(self) -> int:
        return 2 if self.complex else 1

    @property
    def multiple(self) -> int:
        """Spatial sizes the network accepts must be multiples of this."""
        return self.stem * 2 ** (len(self.channel_mults) - 1)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channel_mults"] = list(self.channel_mults)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(
                f"unknown model config keys {sorted(unknown)}; expected {sorted(names)}"
            )
        return cls(**d)


def build_network(cfg: ModelConfig) -> UNet | StemUNet:
    if cfg.architecture == "stem-unet":
        return StemUNet(
            out_channels=cfg.channels,
            base_channels=cfg.base_channels,
            channel_mults=cfg.channel_mults,
            num_res_blocks=cfg.num_res_blocks,
            emb_dim=cfg.emb_dim,
            stem=cfg.stem,
            mid_blocks=cfg.mid_blocks,
            attention_heads=cfg.attention_heads,
            dtype=jnp.dtype(cfg.dtype),
        )
    return UNet(
        out_channels=cfg.channels,
        base_channels=cfg.base_channels,
        channel_mults=cfg.channel_mults,
        num_res_blocks=cfg.num_res_blocks,
        emb_dim=cfg.emb_dim,
    )


def init_params(cfg: ModelConfig, key: jax.Array, size: int = 16) -> Any:
    """Initialise network parameters (shapes do not depend on ``size``); jit-compiled."""
    return _init_params(cfg, key, max(size, cfg.multiple))


@functools.partial(jax.jit, static_argnums=(0, 2))
def _init_params(cfg: ModelConfig, key: jax.Array, size: int) -> Any:
    x = jnp.zeros((1, size, size, cfg.channels), jnp.float32)
    return build_network(cfg).init(key, x, jnp.zeros((1,), jnp.float32))["params"]


def preconditioning(sigma: jnp.ndarray, sigma_data: float):
    """Return ``(c_skip, c_out, c_in, c_noise)`` of Karras et al. 2022 for noise level ``sigma``."""
    s2, sd2 = sigma**2, sigma_data**2
    c_skip = sd2 / (s2 + sd2)
    c_out = sigma * sigma_data / jnp.sqrt(s2 + sd2)
    c_in = 1.0 / jnp.sqrt(s2 + sd2)
    c_noise = jnp.log(sigma) / 4.0
    return c_skip, c_out, c_in, c_noise


def denoise_channels(
    apply_fn: Callable, params: Any, x: jnp.ndarray, sigma: jnp.ndarray, sigma_data: float
) -> jnp.ndarray:
    """``D`` on real NHWC float32 input ``x`` with per-sample ``sigma`` of shape ``(B,)``."""
    c_skip, c_out, c_in, c_noise = preconditioning(sigma, sigma_data)
    f = apply_fn({"params": params}, x * c_in[:, None, None, None], c_noise)
    return c_skip[:, None, None, None] * x + c_out[:, None, None, None] * f


def to_channels(x: jnp.ndarray, is_complex: bool) -> jnp.ndarray:
    """``(B, H, W)`` real or complex -> ``(B, H, W, C)`` float32."""
    if is_complex:
        return jnp.stack([x.real, x.imag], axis=-1).astype(jnp.float32)
    return x.astype(jnp.float32)[..., None]


def from_channels(y: jnp.ndarray, is_complex: bool) -> jnp.ndarray:
    if is_complex:
        return jax.lax.complex(y[..., 0], y[..., 1])
    return y[..., 0]


class EDMDenoiser:
    """``D(x, sigma)`` for images ``(H, W)`` or ``(B, H, W)``; ``sigma`` scalar or ``(B,)``.

    A plain Python object holding the config and parameters; ``__call__`` and :meth:`score` are
    pure JAX and jit/vmap/grad compatible (parameters are closed over as constants).
    """

    def __init__(self, cfg: ModelConfig, params: Any):
        self.config = cfg
        self.params = params
        self._net = build_network(cfg)
        self._apply = jax.jit(self._net.apply)  # fast eager calls; inlined under an outer jit

    def _check(self, x: jnp.ndarray) -> None:
        if x.ndim not in (2, 3):
            raise ValueError(f"expected an image (H, W) or a batch (B, H, W), got shape {x.shape}")
        if self.config.complex != jnp.iscomplexobj(x):
            want = "complex" if self.config.complex else "real"
            raise ValueError(f"this prior expects {want} images, got dtype {x.dtype}")

    def __call__(self, x: jnp.ndarray, sigma: jnp.ndarray | float) -> jnp.ndarray:
        x = jnp.asarray(x)
        self._check(x)
        single = x.ndim == 2
        xb = x[None] if single else x
        b, h, w = xb.shape
        sig = jnp.broadcast_to(jnp.asarray(sigma, jnp.float32).reshape(-1), (b,))
        xc = to_channels(xb, self.config.complex)
        m = self.config.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            xc = jnp.pad(xc, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="reflect")
        y = denoise_channels(self._apply, self.params, xc, sig, self.config.sigma_data)
        y = from_channels(y[:, :h, :w], self.config.complex).astype(x.dtype)
        return y[0] if single else y

    def score(self, x: jnp.ndarray, sigma: jnp.ndarray | float) -> jnp.ndarray:
        """``grad_x log p_sigma(x) = (D(x, sigma) - x) / sigma^2`` (Tweedie)."""
        x = jnp.asarray(x)
        s = jnp.asarray(sigma, jnp.float32)
        if x.ndim == 3 and s.ndim == 1:
            s = s[:, None, None]
        return ((self(x, sigma) - x) / s**2).astype(x.dtype)
