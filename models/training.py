"""Training of an EDM denoiser: jit-compiled optax step, EMA weights, data parallel over devices.

- Optimiser: ``clip_by_global_norm`` then Adam with a linear learning-rate warm-up (optax), then
  a constant rate, or with ``decay_steps > 0`` a cosine decay to zero over that many steps (the
  annealing phase of a fine-tune; Loshchilov & Hutter, "SGDR", ICLR 2017).
- EMA of the parameters with the warm-started decay ``min(ema_decay, (1 + t) / (10 + t))``.
- Data parallel: the batch is sharded along its first axis over a 1-D ``jax.sharding.Mesh`` of local
  devices, parameters and optimiser state are replicated; XLA inserts the gradient all-reduce.
  The noise of step ``t`` is drawn from ``fold_in(key, t)`` for the whole batch, so a run on 4
  devices computes the same numbers as a run on 1 (up to the summation order of the reduction).
- Distillation: given a teacher's model config, the step takes the teacher's parameters as a
  fourth argument and regresses the student onto the teacher's denoiser output
  (:func:`models.losses.edm_loss`, ``target_fn``) instead of the clean image.
- The state is a plain dict pytree ``{step, params, opt_state, ema}`` so orbax stores it as is.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from models.edm import ModelConfig, build_network, denoise_channels, init_params
from models.losses import edm_loss


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (stored with every checkpoint)."""

    steps: int = 1000
    batch_size: int = 16
    learning_rate: float = 2e-4
    warmup_steps: int = 200
    decay_steps: int = 0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    p_mean: float = -1.2
    p_std: float = 1.2
    seed: int = 0
    num_devices: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(
                f"unknown train config keys {sorted(unknown)}; expected {sorted(names)}"
            )
        return cls(**d)


def make_optimizer(tc: TrainConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(tc.grad_clip), optax.adam(learning_rate(tc)))


def learning_rate(tc: TrainConfig) -> optax.Schedule:
    """Linear warm-up to ``tc.learning_rate``; constant after it, or cosine decay to 0 over
    ``tc.decay_steps`` steps when that is positive."""
    warm = max(int(tc.warmup_steps), 1)
    if tc.decay_steps < 0:
        raise ValueError(f"decay_steps must be >= 0, got {tc.decay_steps}")
    if tc.decay_steps == 0:
        return optax.linear_schedule(0.0, tc.learning_rate, warm)
    return optax.warmup_cosine_decay_schedule(
        0.0, tc.learning_rate, warm, warm + int(tc.decay_steps), end_value=0.0
    )


def init_state(mc: ModelConfig, tc: TrainConfig, params: Any = None) -> dict[str, Any]:
    """Fresh training state at step 0: ``params`` (e.g. exported weights to fine-tune), or a
    random initialisation from ``tc.seed``; the EMA starts at the parameters."""
    if params is None:
        params = init_params(mc, jax.random.fold_in(jax.random.key(tc.seed), 0))
    opt_state = make_optimizer(tc).init(params)
    ema = jax.tree.map(jnp.copy, params)
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": opt_state, "ema": ema}


def make_mesh(num_devices: int) -> Mesh:
    devices = jax.local_devices()
    if not 1 <= num_devices <= len(devices):
        raise ValueError(
            f"num_devices must be in 1..{len(devices)} (local devices), got {num_devices}"
        )
    return Mesh(np.array(devices[:num_devices]), ("data",))


def make_train_step(
    mc: ModelConfig, tc: TrainConfig, mesh: Mesh, teacher: ModelConfig | None = None
) -> Callable[..., tuple[dict, dict]]:
    """``step(state, batch, key) -> (state, metrics)``, jit-compiled with data-parallel shardings.

    ``batch`` is NHWC float32 clean images; ``key`` is the noise key of this step. With a
    ``teacher`` model config the step is ``step(state, batch, key, teacher_params)`` and
    distils that teacher (module docstring). Cached on the (hashable, frozen) configs and mesh,
    so trainers of one configuration share one compilation (``steps`` and ``seed`` do not enter
    the step and are left out of the cache key).
    """
    return _make_train_step(mc, dataclasses.replace(tc, steps=0, seed=0), mesh, teacher)


@functools.lru_cache(maxsize=8)
def _make_train_step(mc: ModelConfig, tc: TrainConfig, mesh: Mesh,
                     teacher: ModelConfig | None):
    net = build_network(mc)
    teacher_net = None if teacher is None else build_network(teacher)
    opt = make_optimizer(tc)
    n_dev = mesh.devices.size
    if tc.batch_size % n_dev:
        raise ValueError(f"batch_size {tc.batch_size} is not divisible by {n_dev} devices")

    def loss_fn(params, batch, key, teacher_params):
        target_fn = None
        if teacher_net is not None:
            def target_fn(noisy, sigma):
                return denoise_channels(teacher_net.apply, teacher_params, noisy, sigma,
                                        teacher.sigma_data)
        return edm_loss(net.apply, params, batch, key, mc.sigma_data, tc.p_mean, tc.p_std,
                        target_fn)

    def step(state, batch, key, teacher_params=None):
        loss, grads = jax.value_and_grad(loss_fn)(state["params"], batch, key, teacher_params)
        updates, opt_state = opt.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        t = state["step"].astype(jnp.float32)
        decay = jnp.minimum(tc.ema_decay, (1.0 + t) / (10.0 + t))
        ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state["ema"], params)
        new = {"step": state["step"] + 1, "params": params, "opt_state": opt_state, "ema": ema}
        return new, {"loss": loss, "grad_norm": optax.global_norm(grads)}

    repl = NamedSharding(mesh, PartitionSpec())
    data = NamedSharding(mesh, PartitionSpec("data"))
    in_shardings = (repl, data, repl) if teacher is None else (repl, data, repl, repl)
    return jax.jit(
        step, in_shardings=in_shardings, out_shardings=(repl, repl), donate_argnums=(0,)
    )


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place a pytree replicated on every device of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(batch: jnp.ndarray, mesh: Mesh) -> jnp.ndarray:
    return jax.device_put(batch, NamedSharding(mesh, PartitionSpec("data")))


def step_keys(seed: int, step: int) -> tuple[jax.Array, jax.Array]:
    """``(data_key, noise_key)`` of training step ``step``: pure functions of ``(seed, step)``."""
    base = jax.random.key(seed)
    k = jax.random.fold_in(jax.random.fold_in(base, 1), step)
    return jax.random.fold_in(k, 0), jax.random.fold_in(k, 1)
