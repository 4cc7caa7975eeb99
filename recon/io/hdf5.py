"""Atomic HDF5 output: write to a temporary name in the same directory, rename on success.

A crash, a user error or an interrupt while writing leaves no partial file under the final name
(``os.replace`` is atomic on POSIX within one file system). The file gets the mode of any file
the user creates (``0o666 & ~umask``, :func:`recon.io.output_path.new_file_mode`), not the
temporary file's 0600. The rename is the command's point of no return
(:func:`recon.interrupts.commit`): a SIGINT/SIGTERM received before it leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from collections.abc import Iterator

import h5py

from recon import interrupts
from recon.io.output_path import new_file_mode


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """``with atomic_h5(path) as f: ...`` writes ``path`` atomically (temp file + rename)."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            yield f
        os.chmod(tmp, new_file_mode())
        interrupts.commit()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
