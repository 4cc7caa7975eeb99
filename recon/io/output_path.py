"""Output paths checked before any work, the same way for every command that writes.

A command calls :func:`check_output_file` (one HDF5 file: ``recon mri``, ``recon ct``) or
:func:`check_output_dir` (a folder of files: ``recon sample``, ``recon demo``, ``recon eval``,
``recon train --workdir/--export``) on its ``--out`` before it reads or computes anything, so a
typo costs a second, not a reconstruction. Each problem is one :class:`recon.errors.UserError`
line naming the option, the path and what is wrong:

- the folder that will hold the output exists (files) or can be created (folders: the nearest
  existing ancestor is a folder), and we may write into it (``os.access(W_OK | X_OK)``);
- a file output is not an existing folder, and a folder output is not an existing file;
- the output is not one of the inputs: the same file by ``os.path.samefile`` (hard links,
  ``./in.h5``, symbolic links) or, where the output does not exist yet, by ``os.path.realpath``.

:func:`new_file_mode` is the mode a file created by ``open()`` gets under the process's umask
(``0o666 & ~umask``); the atomic writers give it to their temporary file before the rename, since
``tempfile.mkstemp`` creates files with mode 0600 (Python documentation, ``tempfile.mkstemp``).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable

from recon.errors import UserError

PathLike = str | os.PathLike


def _same(a: pathlib.Path, b: pathlib.Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def _writable_dir(folder: pathlib.Path, option: str, out: pathlib.Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{option} {out}: cannot write into the folder {folder} (permission "
                        "denied)")


def check_output_file(out: PathLike, inputs: Iterable[PathLike] = (), option: str = "--out"
                      ) -> pathlib.Path:
    """Refuse an output file path that cannot be written, is a folder or is an input."""
    out = pathlib.Path(out)
    if str(out) == "" or out.name in ("", ".", ".."):
        raise UserError(f"{option} {str(out)!r}: expected a file name")
    if out.is_dir():
        raise UserError(f"{option} {out} is a folder; expected the name of an output file")
    for src in inputs:
        if _same(out, pathlib.Path(src)):
            raise UserError(f"{option} {out} is the input file {src}; choose another name "
                            "(the input would be overwritten)")
    parent = out.parent
    if not parent.exists():
        raise UserError(f"{option} {out}: the output folder {parent} does not exist")
    if not parent.is_dir():
        raise UserError(f"{option} {out}: {parent} is not a folder")
    _writable_dir(parent, option, out)
    if out.exists() and not os.access(out, os.W_OK) and not os.access(parent, os.W_OK):
        raise UserError(f"{option} {out}: the file exists and cannot be replaced")
    return out


def check_output_dir(out: PathLike, inputs: Iterable[PathLike] = (), option: str = "--out"
                     ) -> pathlib.Path:
    """Refuse an output folder that is a file, cannot be created or written, or holds an
    input (``inputs``: files the command reads, e.g. a config that must not be replaced)."""
    out = pathlib.Path(out)
    if str(out) == "":
        raise UserError(f"{option} '': expected a folder name")
    if out.exists() and not out.is_dir():
        raise UserError(f"{option} {out} exists and is not a folder")
    for src in inputs:
        if _same(out, pathlib.Path(src)):
            raise UserError(f"{option} {out} is the input {src}; choose another folder")
    folder = out
    while not folder.exists():
        if folder.parent == folder:
            break
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{option} {out}: {folder} is a file, so the folder cannot be created")
    _writable_dir(folder, option, out)
    return out


def new_file_mode() -> int:
    """``0o666 & ~umask``: the permissions a newly created file gets in this process.

    Read from ``/proc/self/status`` (Linux >= 4.7) where possible: setting the umask to learn
    it (``os.umask``) would briefly change it for every thread of the process."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask
