"""Orbax checkpoints of training states, and the small weight files of shipped priors.

Training checkpoints (:func:`make_manager`, :func:`save`, :func:`restore`) use an orbax
``CheckpointManager`` with two items per step: ``state`` (the full training state pytree: step,
parameters, optimiser state, EMA) and ``config`` (the resolved run configuration as JSON, stored
next to the weights). Orbax writes each step into a temporary directory and renames it when
complete, so a crash never leaves a half-written step; ``max_to_keep`` keeps the last N.
Restoring first reads the stored config and refuses, with a message naming the differing keys, to
load into a different model configuration; it then checks every array shape against the target
before orbax touches it.

Shipped priors (:func:`export_weights`, :func:`load_weights`) are one ``params.msgpack`` (flax
serialisation of the EMA parameters) plus ``config.json`` per prior.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization

from models.edm import ModelConfig, init_params


class ConfigMismatchError(ValueError):
    """A checkpoint was made for a different architecture or preconditioning."""


def make_manager(directory: str | pathlib.Path, max_to_keep: int = 3) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    # Handlers are registered up front: a manager that has not saved in this process (resume,
    # export) otherwise cannot read item metadata and reports an empty parameter tree.
    return ocp.CheckpointManager(
        pathlib.Path(directory).absolute(),
        options=options,
        item_handlers={
            "state": ocp.StandardCheckpointHandler(),
            "config": ocp.JsonCheckpointHandler(),
        },
    )


def save(mngr: ocp.CheckpointManager, step: int, state: Any, config: dict[str, Any]) -> None:
    """Save ``state`` and ``config`` as step ``step`` and wait until it is on disk."""
    mngr.save(
        int(step),
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config)
        ),
        force=True,
    )
    mngr.wait_until_finished()


def read_config(mngr: ocp.CheckpointManager, step: int | None = None) -> dict[str, Any]:
    step = mngr.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {mngr.directory}")
    out = mngr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
    return dict(out["config"])


def _diff(stored: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(expected))
    return [
        f"{k}: checkpoint has {stored.get(k)!r}, requested {expected.get(k)!r}"
        for k in keys
        if _norm(stored.get(k)) != _norm(expected.get(k))
    ]


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def check_model_config(stored: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    """Raise :class:`ConfigMismatchError` if two model-config dicts differ (keys a stored config
    lacks take their defaults, so weights written before a field existed still load)."""
    # an invalid stored config stays raw: the comparison below reports the differences
    with contextlib.suppress(TypeError, ValueError):
        stored = ModelConfig.from_dict(stored).to_dict()
    diffs = _diff(stored, expected)
    if diffs:
        raise ConfigMismatchError(
            f"checkpoint {where} was made for a different model configuration; refusing to load "
            "it (" + "; ".join(diffs) + ")"
        )


def _path_name(path: tuple) -> str:
    """``a/b/0`` for a key path, whether a level is a dict key, an attribute (named tuples such
    as optax states, which orbax's metadata reports as dicts) or a sequence index."""
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def _check_shapes(stored: Any, target: Any, where: str) -> None:
    s_leaves = jax.tree_util.tree_flatten_with_path(stored)[0]
    t_leaves = jax.tree_util.tree_flatten_with_path(target)[0]
    s_map = {_path_name(p): tuple(getattr(v, "shape", ())) for p, v in s_leaves}
    t_map = {_path_name(p): tuple(getattr(v, "shape", ())) for p, v in t_leaves}
    if s_map.keys() != t_map.keys():
        missing = sorted(t_map.keys() - s_map.keys())[:3]
        extra = sorted(s_map.keys() - t_map.keys())[:3]
        raise ConfigMismatchError(
            f"checkpoint {where} has a different parameter structure (missing {missing}, "
            f"unexpected {extra}); refusing to load it"
        )
    bad = [f"{k}: {s_map[k]} vs {t_map[k]}" for k in t_map if s_map[k] != t_map[k]]
    if bad:
        raise ConfigMismatchError(
            f"checkpoint {where} has different array shapes ({'; '.join(bad[:3])}); "
            "refusing to load"
        )


def restore(
    mngr: ocp.CheckpointManager,
    target_state: Any,
    expected_config: dict[str, Any],
    step: int | None = None,
) -> Any:
    """Restore the state of ``step`` (default: latest) into the structure of ``target_state``.

    ``expected_config["model"]`` must equal the stored model config; otherwise
    :class:`ConfigMismatchError` is raised before any array is read.
    """
    step = mngr.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {mngr.directory}")
    where = f"{mngr.directory}/{step}"
    stored = read_config(mngr, step)
    check_model_config(stored.get("model", {}), expected_config["model"], where)
    meta = mngr.item_metadata(step)["state"]
    _check_shapes(meta, target_state, where)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target_state)
    out = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    return out["state"]


def export_weights(
    directory: str | pathlib.Path, params: Any, model_config: ModelConfig, extra: dict | None = None
) -> pathlib.Path:
    """Write ``params.msgpack`` and ``config.json`` (model config + ``extra``) to ``directory``."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    params = jax.tree.map(lambda a: np.asarray(a, np.float32), params)
    (d / "params.msgpack").write_bytes(serialization.to_bytes(params))
    cfg = {"model": model_config.to_dict(), **(extra or {})}
    (d / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return d


def read_weights_config(path: str | pathlib.Path) -> dict[str, Any]:
    """The ``model`` object of a weights ``config.json``, checked against the fields and type
    hints of :class:`ModelConfig` (:mod:`models.config_schema`; missing keys take their
    defaults, so weights written before a field existed still load; other top-level keys are
    metadata). Every problem is a :class:`~models.config_schema.ConfigError` naming the file."""
    from models import config_schema as cs

    raw = cs.read_json(path)
    if not isinstance(raw, dict) or "model" not in raw:
        cs.raise_problems([f"expected a JSON object with a 'model' object (the network "
                           f"configuration), found {cs.describe(raw)}"], str(path))
    values, problems = cs.check_section(raw["model"], cs.dataclass_fields(ModelConfig),
                                        str(path), "model", fill=False)
    cs.raise_problems(problems, str(path))
    return cs.build(ModelConfig, values, str(path), "model").to_dict()


def load_weights(
    directory: str | pathlib.Path, expected: ModelConfig | None = None
) -> tuple[ModelConfig, Any]:
    """Read a directory written by :func:`export_weights`; returns ``(ModelConfig, params)``."""
    d = pathlib.Path(directory)
    if not (d / "config.json").is_file() or not (d / "params.msgpack").is_file():
        raise FileNotFoundError(f"{d} does not hold config.json and params.msgpack")
    cfg_dict = read_weights_config(d / "config.json")
    if expected is not None:
        check_model_config(cfg_dict, expected.to_dict(), str(d))
    cfg = ModelConfig.from_dict(cfg_dict)
    target = jax.eval_shape(lambda: init_params(cfg, jax.random.key(0)))
    try:
        raw = serialization.msgpack_restore((d / "params.msgpack").read_bytes())
    except Exception as err:  # msgpack raises its own ValueError subclasses and others
        raise ValueError(f"{d / 'params.msgpack'}: cannot read the weights (truncated, or not "
                         f"a flax msgpack file: {err})") from None
    _check_shapes(raw, target, str(d))
    params = jax.tree.map(lambda a: jax.numpy.asarray(a, jax.numpy.float32), raw)
    return cfg, params
