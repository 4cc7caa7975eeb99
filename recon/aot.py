"""Traced and lowered programs kept between runs (``jax.export``), next to the compilation cache.

JAX's persistent compilation cache (:mod:`recon.compile_cache`) skips the XLA compilation of a
program seen before, but its key is the lowered program, so every run still pays Python tracing
and lowering to StableHLO: about 1-1.5 s for ESPIRiT + CG-SENSE at 256x256 x 8 coils on one
CPU core, more than the arithmetic. :func:`call` keeps the *exported* program instead
(https://docs.jax.dev/en/latest/export/export.html): the first run traces, lowers and serialises
it to ``<cache>/exported/NAME-KEY.jaxexport``; later runs deserialise it and call it, and its
XLA compilation is then a hit in the persistent cache.

The key covers everything the program depends on: the name and the caller's static parameters,
the argument shapes and dtypes, the JAX version, the backend, 64-bit mode, and a digest of the
source of ``operators``, ``models`` and ``recon`` (a changed line of code is a new program). A
file that cannot be read is rebuilt. Without the on-disk cache (the command line turns it on;
``recon --no-cache`` turns both off) :func:`call` is ``jax.jit`` kept in memory per key.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import os
import pathlib
import tempfile
from collections.abc import Callable
from typing import Any

_folder: pathlib.Path | None = None
_programs: collections.OrderedDict[str, Callable] = collections.OrderedDict()
MAX_PROGRAMS = 64  # least recently used beyond this are dropped (a server meets many masks)


def enable(folder: pathlib.Path | None) -> None:
    """Keep exported programs in ``folder`` (``None``: off)."""
    global _folder
    _folder = folder
    _programs.clear()


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 of the Python source of the packages a program can come from."""
    root = pathlib.Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for pkg in ("operators", "models", "recon"):
        for path in sorted((root / pkg).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _key(name: str, static: Any, args: tuple) -> str:
    import jax

    spec = tuple((tuple(a.shape), str(a.dtype)) for a in args)
    text = repr((name, static, spec, jax.__version__, jax.default_backend(),
                 bool(jax.config.jax_enable_x64), source_digest()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def call(name: str, make: Callable[[], Callable], *args: Any, static: Any = ()) -> Any:
    """``jax.jit(make())(*args)``, through the exported program on disk when enabled.

    ``make()`` returns the function, which takes arrays only: close over static parameters and
    name them in ``static`` (a value with a stable ``repr``) so that they are part of the key.
    ``make`` is called only when the program must be traced, so a run that finds it on disk
    never imports the modules that build it. Either way the jitted program is kept in this
    process under that key, so a server or a loop over files traces and compiles it once
    (``make()`` returns a new function object on every call, which ``jax.jit`` alone would
    trace and compile again).
    """
    import jax

    key = _key(name, static, args)
    program = _programs.get(key)
    if program is not None:
        _programs.move_to_end(key)
    else:
        if _folder is None:
            program = jax.jit(make())
        else:
            program = jax.jit(_load_or_export(_folder / f"{name}-{key}.jaxexport", make,
                                              args).call)
        _programs[key] = program
        while len(_programs) > MAX_PROGRAMS:
            _programs.popitem(last=False)
    return program(*args)


def _load_or_export(path: pathlib.Path, make: Callable[[], Callable], args: tuple):
    import jax
    from jax import export

    if path.is_file():
        try:
            return export.deserialize(bytearray(path.read_bytes()))
        except Exception:  # a truncated or foreign file: export it again
            pass
    exported = export.export(jax.jit(make()))(
        *(jax.ShapeDtypeStruct(a.shape, a.dtype) for a in args))
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(exported.serialize())
        os.replace(tmp, path)
    except OSError:  # a read-only or full cache folder only costs the next run its tracing
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return exported
