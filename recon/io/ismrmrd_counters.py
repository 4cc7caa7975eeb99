"""Checks of the ISMRMRD acquisition counters, and where each readout goes.

Every acquisition header carries ``encoding_space_ref`` and the encoding counters ``idx``
(``kspace_encode_step_1`` / ``_2``, ``average``, ``slice``, ``contrast``, ``phase``,
``repetition``, ``set``, ``segment``; ISMRMRD's ``EncodingCounters``). A 2-D Cartesian image is
one ``(slice, repetition)`` pair; :func:`check_counters` decides, before any sample is read:

- which acquisitions belong to the chosen encoding (``encoding_space_ref``);
- that ``kspace_encode_step_2`` is 0 (2-D) and that ``contrast``, ``phase`` and ``set`` take one
  value (several are separate images this reader does not combine: refused);
- that every slice from the header's ``encodingLimits`` ``slice`` minimum to maximum (or to the
  largest counter found, without limits) has imaging readouts (a gap is refused, never filled
  with zeros), and no counter lies outside the limits;
- the output slot of each readout: ``slice``, or with ``repetitions="separate"``
  ``repetition * slices + slice`` (repetition numbered in increasing order);
- what is combined, for the user: several ``average`` values are averaged; several
  ``repetition`` values are averaged with ``repetitions="mean"``; lines acquired more than once
  otherwise are averaged too. Each gives one line in :attr:`Counters.report`.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from recon.errors import UserError
from recon.io.ismrmrd_header import Header

REPETITIONS = ("mean", "separate")


@dataclasses.dataclass
class Counters:
    selected: np.ndarray  # bool per acquisition: imaging/calibration readouts of this encoding
    slot: np.ndarray  # output slice index per acquisition (valid where selected)
    n_slots: int
    slices: int
    repetitions: int  # repetitions kept apart (1 with "mean")
    report: list[str]


def _values(a: np.ndarray) -> str:
    u = np.unique(a)
    return ", ".join(str(int(v)) for v in u[:6]) + (", ..." if u.size > 6 else "")


def check_counters(path: pathlib.Path, head: np.ndarray, data_sel: np.ndarray,
                   imaging: np.ndarray, hdr: Header, repetitions: str = "mean") -> Counters:
    """See the module docstring. ``data_sel``: readouts that are neither noise nor skipped;
    ``imaging``: those that are imaging lines (not calibration-only)."""
    if repetitions not in REPETITIONS:
        raise UserError(f"--repetitions must be one of {', '.join(REPETITIONS)}, "
                        f"got {repetitions}")

    def fail(msg: str) -> UserError:
        return UserError(f"{path}: {msg}")

    ref = head["encoding_space_ref"].astype(int)
    other = data_sel & (ref != hdr.encoding)
    if other.any() and hdr.n_encodings == 1:
        i = int(np.flatnonzero(other)[0])
        raise fail(f"acquisition {i}: encoding_space_ref {ref[i]}, but the ISMRMRD header has "
                   "one <encoding> (0)")
    sel = data_sel & (ref == hdr.encoding)
    if not sel.any():
        raise fail(f"no imaging acquisitions with encoding_space_ref {hdr.encoding}")
    img = sel & imaging
    idx = head["idx"]
    e2 = idx["kspace_encode_step_2"].astype(int)
    if np.any(e2[sel] != 0):
        raise fail(f"acquisitions have kspace_encode_step_2 values {_values(e2[sel])}: a 3-D "
                   "encoding; only 2-D (all 0) is supported")
    for name in ("contrast", "phase", "set"):
        v = idx[name].astype(int)[sel]
        if np.unique(v).size > 1:
            raise fail(f"acquisitions have {np.unique(v).size} values of the {name} counter "
                       f"({_values(v)}): separate images that recon mri does not combine; "
                       f"write one {name} per file")
    sl = idx["slice"].astype(int)
    lim = hdr.limits.get("slice")
    lo, hi = (lim.minimum, lim.maximum) if lim is not None else (0, int(sl[sel].max()))
    outside = sel & ((sl < lo) | (sl > hi))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise fail(f"acquisition {i}: slice {sl[i]} is outside encodingLimits slice {lo}..{hi}")
    nsl = hi - lo + 1
    report: list[str] = []
    rep = idx["repetition"].astype(int)
    reps = np.unique(rep[sel])
    separate = repetitions == "separate" and reps.size > 1
    rep_rank = np.searchsorted(reps, rep)
    slot = (sl - lo) + (rep_rank * nsl if separate else 0)
    n_slots = nsl * (reps.size if separate else 1)
    have = np.zeros(n_slots, bool)
    have[slot[img]] = True
    if not have.all():
        missing = np.flatnonzero(~have)
        where = ", ".join(
            (f"slice {m % nsl + lo} of repetition {reps[m // nsl]}" if separate
             else f"slice {m + lo}") for m in missing[:4])
        more = f" and {missing.size - 4} more" if missing.size > 4 else ""
        limits = f"encodingLimits slice {lo}..{hi}" if lim is not None else \
            f"slices {lo}..{hi} found"
        raise fail(f"no imaging acquisitions for {where}{more} ({limits}); a missing slice is "
                   "refused rather than reconstructed as zeros")
    avg = idx["average"].astype(int)
    n_avg = np.unique(avg[sel]).size
    if n_avg > 1:
        report.append(f"averaged {n_avg} averages (average counter {_values(avg[sel])})")
    if reps.size > 1:
        if separate:
            report.append(f"{reps.size} repetitions reconstructed separately: output slice = "
                          f"repetition x {nsl} + slice")
        else:
            report.append(f"averaged {reps.size} repetitions (repetition counter "
                          f"{_values(rep[sel])}; --repetitions separate keeps them apart)")
    if n_avg == 1 and (reps.size == 1 or separate):
        line = idx["kspace_encode_step_1"].astype(int)
        keys = slot[img].astype(np.int64) * (1 << 20) + line[img]
        repeats = keys.size - np.unique(keys).size
        if repeats:
            report.append(f"averaged {repeats} phase-encode lines acquired more than once "
                          "with the same counters")
    return Counters(sel, slot, n_slots, nsl, reps.size if separate else 1, report)
