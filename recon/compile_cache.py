"""JAX's persistent compilation cache in the user's cache folder, on by default.

A second run with the same shapes loads the compiled XLA executables from disk instead of
compiling them again (https://docs.jax.dev/en/latest/persistent_compilation_cache.html); the
traced programs themselves are kept by :mod:`recon.aot` in the ``exported`` subfolder.

Folder: ``$RECON_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/recon-engine``, else
``~/.cache/recon-engine`` (the XDG base-directory convention); the executables go to its ``jax``
subfolder (one file per compiled function and shape, typically tens of kilobytes to a few
megabytes; JAX does not bound the folder without the ``filelock`` package, so delete it at
will). Every compiled function is cached, however short its compile time (JAX's own default
skips those under 1 s, which are most of ours). ``recon --no-cache`` turns it off.

The settings are given as JAX's environment variables when JAX has not been imported yet (so
that a command that never needs JAX does not import it), else through ``jax.config``.
"""

from __future__ import annotations

import os
import pathlib
import sys


def cache_dir() -> pathlib.Path:
    """The folder of this project's caches (see the module docstring)."""
    if os.environ.get("RECON_CACHE_DIR"):
        return pathlib.Path(os.environ["RECON_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "recon-engine"


def configure(enabled: bool = True) -> None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` (or switch it off), and
    with it the exported programs of :mod:`recon.aot`."""
    from recon import aot

    aot.enable(cache_dir() / "exported" if enabled else None)
    settings: dict[str, object]
    if enabled:
        folder = cache_dir() / "jax"
        settings = {
            "jax_enable_compilation_cache": True,
            "jax_compilation_cache_dir": str(folder),
            "jax_persistent_cache_min_compile_time_secs": 0.0,
            "jax_persistent_cache_min_entry_size_bytes": 0,
        }
    else:
        settings = {"jax_enable_compilation_cache": False}
    if "jax" in sys.modules:
        import jax

        for name, value in settings.items():
            jax.config.update(name, value)
    else:
        for name, value in settings.items():
            os.environ[name.upper()] = str(value).lower() if isinstance(value, bool) else str(
                value)
