"""What the command line says, and where: ``-q`` errors only, ``-v`` our progress and timings,
``-vv`` everything, third-party debug logs included.

=========  ================================  ==========================================
level      ``recon.*`` / ``models.*`` logs   other libraries (JAX, absl, orbax, ...)
=========  ================================  ==========================================
``-q``     errors                            errors
default    info: what was read, detected      warnings
           and written; progress bars
``-v``     debug: timings of every stage      warnings
``-vv``    debug                              debug
=========  ================================  ==========================================

Log records and progress bars go to stderr; :func:`status` lines (``wrote OUT.h5 ...``) go to
stdout and are silenced by ``-q`` too. Results a command exists to print (``recon metrics``'
scores, benchmark tables) are printed whatever the verbosity.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator

#: our own logger families; everything else counts as third-party
OWN = ("recon", "models", "operators", "experiments")
#: loggers that are noisy at INFO even when nothing is wrong
_NOISY = ("jax._src.xla_bridge", "absl")

log = logging.getLogger("recon")


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to the *current* ``sys.stderr`` (pytest's capsys swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def configure(verbose: int = 0, quiet: bool = False) -> None:
    """Set the log levels of the table above and install one stderr handler (idempotent)."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(h)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    if quiet:
        own, other = logging.ERROR, logging.ERROR
    else:
        own = logging.DEBUG if verbose >= 1 else logging.INFO
        other = logging.DEBUG if verbose >= 2 else logging.WARNING
    root.setLevel(other)
    for name in OWN:
        logging.getLogger(name).setLevel(own)
    for name in _NOISY:
        logging.getLogger(name).setLevel(other if verbose >= 2 else max(other, logging.ERROR))
    logging.captureWarnings(True)  # Python warnings become log records of level WARNING


def enabled(level: int = logging.INFO) -> bool:
    """Whether our messages of ``level`` are shown (``-q`` hides INFO, ``-v`` shows DEBUG)."""
    return log.isEnabledFor(level)


def status(message: str) -> None:
    """A status line on stdout (``wrote OUT.h5 ...``), unless ``-q``."""
    if enabled(logging.INFO):
        print(message, flush=True)


def progress_disabled(total: int = 2) -> bool:
    """``disable=`` for a tqdm bar over ``total`` items: off under ``-q`` and for one item."""
    return not enabled(logging.INFO) or total < 2


@contextlib.contextmanager
def timed(what: str) -> Iterator[None]:
    """Log ``what: N.NN s`` at debug level (``-v``) when the block ends."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        log.debug("%s: %.2f s", what, time.perf_counter() - t0)
