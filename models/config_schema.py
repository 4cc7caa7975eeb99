"""Schema checks of JSON configs, generic over dataclass fields and constructor signatures.

The run config of ``recon train`` (sections ``model``: :class:`models.edm.ModelConfig`,
``train``: :class:`models.training.TrainConfig`, ``data``: the constructor of the data source,
``run``: :class:`models.fit.RunConfig`) and the ``config.json`` of exported weights are checked
here before anything is built. The schema is read from the code itself: the fields of a
dataclass (or the parameters of a constructor) with their type hints and defaults, so a field
added to ``ModelConfig`` or a new data source is checked without a change here.

Rules, applied to every key of a section:

- unknown keys, and keys without a default that are missing, are refused;
- the JSON type must match the type hint exactly: ``bool`` takes ``true``/``false`` only,
  ``int`` an integer (not ``8.5``, ``"2"`` or ``true``), ``float`` any finite number, ``str`` a
  string, ``tuple[int, ...]``/``list[int]`` a JSON list of integers (a string is never read as a
  list), ``X | None`` also ``null``, ``Literal[...]`` one of its values;
- counts and scales take the sign of their default: a number whose default is positive must be
  positive (``steps: -1`` and ``batch_size: 0`` are refused), one whose default is 0 must be
  >= 0, one with a negative default (``p_mean``) is free. :data:`ZERO_ALLOWED` lists the fields
  with a positive default for which 0 is meaningful; a dataclass field may also state
  ``metadata={"min": m}``.

Every problem is reported on one line that names the file, the key (``model.base_channels``),
the expected type and what was found; several problems are joined with ``"; "``
(:class:`ConfigError`, a ``ValueError``).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

#: ``Class.field`` names whose default is positive but for which 0 is a valid value
ZERO_ALLOWED = frozenset({"TrainConfig.warmup_steps", "ModelConfig.mid_blocks"})

_MISSING = object()


class ConfigError(ValueError):
    """A config that does not match its schema; ``str()`` is the one-line message."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One key of a section: its type hint, default (``_MISSING``: required), lower bound."""

    name: str
    hint: Any
    default: Any = _MISSING
    minimum: float | None = None
    strict_min: bool = False


def _bound(owner: str, name: str, hint: Any, default: Any, metadata: Any = None
           ) -> tuple[float | None, bool]:
    if metadata and "min" in metadata:
        return float(metadata["min"]), False
    if default is _MISSING or isinstance(default, bool) or not isinstance(default, int | float):
        return (0.0, False) if _base(hint) in (int,) else (None, False)
    if default > 0 and f"{owner}.{name}" not in ZERO_ALLOWED:
        return 0.0, True
    if default >= 0:
        return 0.0, False
    return None, False


def _base(hint: Any) -> Any:
    """The hint without ``| None``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if _is_union(hint) and len(args) == 1:
        return args[0]
    return hint


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def dataclass_fields(cls: type) -> list[Field]:
    """The schema of a dataclass: every field with its resolved type hint and default."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = _MISSING
        lo, strict = _bound(cls.__name__, f.name, hints[f.name], default, f.metadata)
        out.append(Field(f.name, hints[f.name], default, lo, strict))
    return out


def signature_fields(fn: Callable, owner: str) -> list[Field]:
    """The schema of a constructor or function: its keyword parameters (without ``self``),
    their type hints (``Any`` where there is none) and defaults."""
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):
        hints = {}
    out = []
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = _MISSING if p.default is inspect.Parameter.empty else p.default
        hint = hints.get(name, Any)
        lo, strict = _bound(owner, name, hint, default)
        out.append(Field(name, hint, default, lo, strict))
    return out


def describe(value: Any) -> str:
    """``8.5 (a number)``, ``"2" (a string)``: a JSON value as a person reads it."""
    kind = ("null" if value is None else "a boolean" if isinstance(value, bool)
            else "an integer" if isinstance(value, int) else "a number"
            if isinstance(value, float) else "a string" if isinstance(value, str)
            else "a list" if isinstance(value, list) else "an object"
            if isinstance(value, dict) else type(value).__name__)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return kind if value is None else f"{text} ({kind})"


def expected(hint: Any) -> str:
    """The name of a type hint in JSON words: ``an integer``, ``a list of integers``."""
    if hint is Any:
        return "any value"
    if _is_union(hint):
        return " or ".join(expected(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in typing.get_args(hint))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (tuple, list):
        inner = args[0] if args else Any
        return f"a list of {_plural(expected(inner))}"
    if origin is dict or hint is dict:
        return "an object"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _plural(text: str) -> str:
    for a, b in (("an integer", "integers"), ("a number", "numbers"), ("a string", "strings"),
                 ("true or false", "booleans"), ("any value", "values")):
        if text == a:
            return b
    return text


def matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value has the type ``hint`` (exactly: no coercion)."""
    if hint is Any or hint is object:
        return True
    if _is_union(hint):
        return any(matches(value, a) for a in typing.get_args(hint))
    if hint is type(None) or hint is None:
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (tuple, list) or hint in (tuple, list):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(matches, value, args))
        inner = args[0] if args else Any
        return all(matches(v, inner) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a hint this checker does not know: left to the constructor


def _range_problem(value: Any, f: Field) -> str | None:
    default = f.default
    if isinstance(value, list) and isinstance(default, tuple | list) and default and all(
            isinstance(d, int | float) and d > 0 for d in default):
        # a list of widths or factors, all positive by default: non-empty, all positive
        if not value or any(v <= 0 for v in value):
            return (f"expected a non-empty list of positive numbers, found "
                    f"{describe(list(value))}")
        return None
    if f.minimum is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    what = "integer" if _base(f.hint) is int else "number"
    if f.strict_min and value <= f.minimum:
        return f"expected a positive {what}, found {describe(value)}"
    if not f.strict_min and value < f.minimum:
        return f"expected an {what} >= {f.minimum:g}, found {describe(value)}".replace(
            "an number", "a number")
    return None


def check_section(raw: Any, fields: Iterable[Field], where: str, section: str,
                  extra: Iterable[str] = (), fill: bool = True) -> tuple[dict, list[str]]:
    """Check one JSON object against ``fields``; returns (values, problems).

    ``values`` holds the given keys (and, with ``fill``, the defaults of the others); keys in
    ``extra`` are allowed and passed through unchecked; ``where`` is the file named in messages.
    """
    fields = list(fields)
    if not isinstance(raw, dict):
        return {}, [f"{section}: expected an object, found {describe(raw)}"]
    known = {f.name: f for f in fields}
    problems = []
    for key in raw:
        if key not in known and key not in extra:
            problems.append(f"{section}.{key}: unknown key (expected one of "
                            f"{', '.join(sorted({*known, *extra}))})")
    out = {k: raw[k] for k in extra if k in raw}
    for f in fields:
        if f.name not in raw:
            if f.default is _MISSING:
                problems.append(f"{section}.{f.name}: missing (expected {expected(f.hint)})")
            elif fill:
                out[f.name] = f.default
            continue
        value = raw[f.name]
        if not matches(value, f.hint):
            problems.append(f"{section}.{f.name}: expected {expected(f.hint)}, found "
                            f"{describe(value)}")
            continue
        bad = _range_problem(value, f)
        if bad:
            problems.append(f"{section}.{f.name}: {bad}")
            continue
        out[f.name] = value
    return out, problems


def raise_problems(problems: list[str], where: str) -> None:
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def build(cls: type, values: dict, where: str, section: str) -> Any:
    """``cls(**values)``; a ``ValueError`` of its own checks becomes a :class:`ConfigError`
    naming the file and the section."""
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    except (TypeError, ValueError) as err:
        text = str(err)
        raise ConfigError(f"{where}: {text}" if text.startswith(f"{section}.")
                          else f"{where}: {section}: {text}") from None


def read_json(path: Any) -> Any:
    """The JSON value of ``path``; an unreadable file is a :class:`ConfigError` naming it."""
    import pathlib

    p = pathlib.Path(path)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except OSError as err:
        raise ConfigError(f"{p}: cannot read the file ({err.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file (expected JSON)") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{p} is not valid JSON ({err.msg} at line {err.lineno} column "
                          f"{err.colno})") from None
