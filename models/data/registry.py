"""Build a training-image source from the ``data`` section of a run config."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

_KINDS = {
    "ellipses": ("models.data.ellipses", "EllipsesSource"),
    "brain": ("models.data.brain", "BrainSource"),
    "fastmri": ("models.data.fastmri", "FastMRISource"),
}


def _class(kind: str) -> type:
    module, name = _KINDS[kind]
    return getattr(importlib.import_module(module), name)


def resolve_data_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Fill in the defaults of the source's constructor; unknown kinds/keys: ``ValueError``."""
    kind = cfg.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"data.kind must be one of {sorted(_KINDS)}, got {kind!r}")
    sig = inspect.signature(_class(kind).__init__)
    params = {k: p for k, p in sig.parameters.items() if k != "self"}
    unknown = set(cfg) - set(params) - {"kind"}
    if unknown:
        raise ValueError(f"unknown data config keys {sorted(unknown)} for kind {kind!r}")
    out = {"kind": kind}
    for k, p in params.items():
        if k in cfg:
            out[k] = cfg[k]
        elif p.default is inspect.Parameter.empty:
            raise ValueError(f"data config for kind {kind!r} needs key {k!r}")
        else:
            out[k] = p.default
    return out


def make_source(cfg: dict[str, Any]):
    cfg = resolve_data_config(cfg)
    kwargs = {k: v for k, v in cfg.items() if k != "kind"}
    return _class(cfg["kind"])(**kwargs)


def source_kinds() -> list[str]:
    """The ``data.kind`` names, sorted (for the config schema, :mod:`models.config_schema`)."""
    return sorted(_KINDS)


def source_class(kind: str) -> type:
    """The source class of ``kind`` (imported on demand)."""
    return _class(kind)
