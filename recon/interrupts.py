"""One interrupt path for every ``recon`` command: SIGINT and SIGTERM become a flag.

Raising ``KeyboardInterrupt`` from a signal handler (Python's default for SIGINT) lands the
exception wherever the interpreter happens to be: inside an import, inside a garbage-collection
callback of XLA (where it is printed as "Exception ignored" and swallowed, so the run goes on and
writes its output), or while runtime threads are mid-call (a crash at exit). So the command line
installs :func:`install` first, before any heavy import; the handler only *records* the signal.
The code then asks at safe points, between jitted steps, with :func:`check`, which raises
:class:`Interrupted` (a ``BaseException``, so no ``except Exception`` swallows it):

- the slice/batch loops (:func:`recon.slice_methods.run_in_batches`,
  :func:`recon.classical_mri.reconstruct`), after each batch;
- the training loop (:mod:`models.fit`), after each step, which first saves a checkpoint;
- the commands themselves between stages (``recon ct``, ``recon sample``, demo, eval);
- :func:`commit`, called by every atomic writer just before its final rename.

:func:`commit` is the point of no return: it raises if a signal came, and otherwise ignores
further SIGINT/SIGTERM, so the process either ends with status ``128 + signal`` (130 for SIGINT,
143 for SIGTERM, the shell convention) and no output, or writes its output and exits 0. The
command line prints one line and removes temporary files (the writers' ``except BaseException``
clean-up runs as :class:`Interrupted` propagates).

Outside the command line (library use, tests) nothing is installed: :func:`check` and
:func:`commit` see no flag and do nothing, and the process's own signal handling is untouched.

A signal that arrives during a long jitted computation takes effect when it returns; the
Python handler itself runs between bytecodes of the main thread (Python documentation,
``signal`` module, "Execution of Python signal handlers").
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

#: the signals turned into a flag, and the names used in messages
SIGNALS = {signal.SIGINT: "interrupted (SIGINT)", signal.SIGTERM: "terminated (SIGTERM)"}

_pending: int | None = None
_previous: dict[int, Any] | None = None


class Interrupted(BaseException):
    """A SIGINT/SIGTERM was received; ``exit_status`` is ``128 + signum``; ``str()`` is the
    message line (what happened and what was kept)."""

    def __init__(self, signum: int, kept: str = "no output written"):
        super().__init__(f"{SIGNALS.get(signum, f'signal {signum}')}; {kept}")
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + int(self.signum)


def _handler(signum: int, frame: Any) -> None:
    global _pending
    if _pending is None:
        _pending = signum


def install() -> None:
    """Turn SIGINT and SIGTERM into a flag (call first thing in the command line); a second
    call keeps the handlers' originals and any signal already recorded."""
    global _previous
    if _previous is None:
        _previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _handler)


def uninstall() -> None:
    """Restore the handlers :func:`install` replaced and forget any pending signal."""
    global _previous, _pending
    if _previous is not None:
        for s, h in _previous.items():
            signal.signal(s, h)
    _previous = None
    _pending = None


def installed() -> bool:
    return _previous is not None


def pending() -> int | None:
    """The signal number received since :func:`install`, or ``None``."""
    return _pending


def check(kept: str = "no output written") -> None:
    """Raise :class:`Interrupted` if a signal was received (a safe point between steps);
    ``kept`` says what the interrupted command leaves behind."""
    if _pending is not None:
        raise Interrupted(_pending, kept)


def commit() -> None:
    """The point of no return of a command: :func:`check`, then ignore SIGINT/SIGTERM so the
    output about to be renamed into place is reported as written (exit 0).

    A no-op outside the command line (nothing installed)."""
    if _previous is None:
        return
    check()
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` followed by :func:`check` (for progress callbacks that run between batches)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        check()
        return out

    return wrapper
