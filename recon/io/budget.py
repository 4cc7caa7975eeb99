"""The memory budget: declared array sizes are checked *before* anything is read.

An HDF5 file of a few kilobytes can declare a chunked dataset of terabytes that was never
written; reading it would allocate the whole array (and fill it with zeros). Every reader
therefore checks, before reading:

- that a dataset with a nonzero declared size holds any data at all
  (``H5Dget_storage_size`` > 0), and
- that the memory the read and the reconstruction need (the declared array in its in-memory
  type times the number of working copies the caller states) fits the budget: ``--max-memory``
  (e.g. ``8G``, ``500M``) or by default :data:`DEFAULT_FRACTION` of the physical memory.
"""

from __future__ import annotations

import math
import os
import re

from recon.errors import UserError

#: default budget: this fraction of the physical memory
DEFAULT_FRACTION = 0.5
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_budget: int | None = None


def parse_size(text: str) -> int:
    """``"8G"``, ``"500M"``, ``"1.5GiB"``, ``"4096"`` (bytes) -> bytes (binary multiples)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", str(text), re.IGNORECASE)
    if m is None or float(m.group(1)) <= 0:
        raise UserError(f"--max-memory must be a positive size such as 8G or 500M, got {text}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def physical_memory() -> int | None:
    """Bytes of physical memory, or ``None`` where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def set_budget(nbytes: int | None) -> None:
    """Set the budget (``None``: the default fraction of the physical memory)."""
    global _budget
    _budget = nbytes


def budget() -> int | None:
    """The budget in bytes (``None``: unknown physical memory and no ``--max-memory``)."""
    if _budget is not None:
        return _budget
    ram = physical_memory()
    return None if ram is None else int(ram * DEFAULT_FRACTION)


def human(nbytes: float) -> str:
    """``1.5 GiB``, ``300 MiB``, ``12 KiB``."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def check_bytes(path, what: str, nbytes: float) -> None:
    """Refuse ``what`` (a phrase naming the data) if it needs more than the budget."""
    limit = budget()
    if limit is not None and nbytes > limit:
        origin = "--max-memory" if _budget is not None else (
            f"the default budget, {DEFAULT_FRACTION:g} of the {human(physical_memory() or 0)} "
            "of RAM; raise it with --max-memory")
        raise UserError(f"{path}: {what} needs about {human(nbytes)} of memory, more than "
                        f"{human(limit)} ({origin}); nothing was read")


def check_dataset(path, ds, name: str, itemsize: int | None = None, copies: float = 1.0) -> None:
    """Check the h5py dataset ``ds`` (called ``name`` in messages) before reading it.

    ``itemsize``: bytes per element once read (default: the stored type's); ``copies``: how many
    arrays of that size the caller holds at its peak.
    """
    n = math.prod(ds.shape) if ds.shape else 1
    if n and ds.id.get_storage_size() == 0 and ds.dtype.kind != "O" and not _is_vlen(ds):
        raise UserError(f"{path}: '{name}' declares shape {tuple(ds.shape)} but holds no data "
                        "(never written)")
    nbytes = n * (itemsize or ds.dtype.itemsize) * copies
    check_bytes(path, f"'{name}' of shape {tuple(ds.shape)}", nbytes)


def _is_vlen(ds) -> bool:
    import h5py

    return h5py.check_vlen_dtype(ds.dtype) is not None
