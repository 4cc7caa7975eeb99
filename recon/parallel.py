"""Batches of slices across devices: ``vmap`` over the batch, ``jax.sharding`` over devices.

:func:`map_batched` runs ``fn`` on every example of a batch as one jitted, vmapped computation
whose batch axis is split across ``devices`` (all local devices by default) with a
:class:`jax.sharding.NamedSharding`. The batch is padded with copies of its last example to a
multiple of the device count and the padding is dropped afterwards, so any batch size works.
Arguments that are not batched (operators' shared data, network weights) are replicated.
The same code runs on CPU, GPU and TPU; on a CPU-only machine
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` gives four devices to test with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def _pad(tree: Any, size: int) -> Any:
    def pad_leaf(a):
        a = jnp.asarray(a)
        extra = size - a.shape[0]
        if extra == 0:
            return a
        return jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)], axis=0)

    return jax.tree_util.tree_map(pad_leaf, tree)


def map_batched(
    fn: Callable[..., Any],
    batched: Any,
    shared: Any = None,
    devices: Sequence[jax.Device] | None = None,
) -> Any:
    """``[fn(example, shared) for example in batched]`` as one sharded, vmapped computation.

    ``batched`` is a pytree whose leaves all have the batch as their leading axis; ``shared``
    is a pytree given unchanged to every call. Returns the stacked results (a pytree).
    """
    leaves = jax.tree_util.tree_leaves(batched)
    if not leaves:
        raise ValueError("map_batched needs at least one batched array")
    size = int(np.shape(leaves[0])[0])
    if any(int(np.shape(leaf)[0]) != size for leaf in leaves):
        shapes = [tuple(np.shape(leaf)) for leaf in leaves]
        raise ValueError(f"batched arrays disagree on the batch size: shapes {shapes}")
    devices = list(devices or jax.local_devices())
    padded_size = -(-size // len(devices)) * len(devices)
    mesh = Mesh(np.array(devices), ("batch",))
    split = NamedSharding(mesh, PartitionSpec("batch"))
    replicated = NamedSharding(mesh, PartitionSpec())
    batched = jax.device_put(_pad(batched, padded_size), split)
    shared = jax.device_put(shared, replicated)
    run = jax.jit(jax.vmap(fn, in_axes=(0, None)), out_shardings=split)
    out = run(batched, shared)
    return jax.tree_util.tree_map(lambda a: a[:size], out)
