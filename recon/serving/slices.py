"""Streamed MRD acquisitions -> one raw-data dictionary per slice.

Acquisitions are kept per slice counter as they arrive; noise scans (``ACQ_IS_NOISE_MEASUREMENT``)
for every slice. A slice is complete when a readout with ``ACQ_LAST_IN_SLICE`` (flag 8) arrives
for it, or when the stream ends (CLOSE) for slices without that flag. A complete slice goes
through exactly the assembly of an ISMRMRD file (:func:`recon.io.ismrmrd.assemble`: flags,
counters, ACS lines, readout placement) and then :func:`recon.mri_reconstruction.from_ismrmrd`
(prewhitening with all noise scans received so far, readout-oversampling removal, calibration
mask, sampling detection): the slice is presented to them as a one-slice file, its slice counter
set to 0 and the header's ``encodingLimits`` ``slice`` to 0..0. Repetitions and averages of a
slice are averaged, as ``recon mri`` does by default.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recon.errors import UserError

ACQ_LAST_IN_SLICE = 8


def head_row(acq) -> np.ndarray:
    """An ``ismrmrd.Acquisition``'s header as one row of the HDF5 acquisition-header dtype
    (the ctypes struct and the HDF5 compound type have the same 340-byte layout)."""
    from ismrmrd.hdf5 import acquisition_header_dtype

    return np.frombuffer(bytes(acq._head), acquisition_header_dtype).copy()


class SliceCollector:
    """Acquisitions of one session, grouped by slice (see the module docstring)."""

    def __init__(self, source: str, xml: str):
        from recon.io.ismrmrd_header import read_header

        self.source = source
        self.xml = xml
        self.hdr = read_header(source, xml, None)
        self.noise: list[tuple[np.ndarray, np.ndarray]] = []
        self.slices: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.done: set[int] = set()
        self.count = 0

    def add(self, acq) -> int | None:
        """Keep ``acq``; return its slice number when that slice is now complete."""
        from recon.io.ismrmrd import ACQ_IS_NOISE_MEASUREMENT, flag_set

        row = head_row(acq)
        payload = np.ascontiguousarray(acq.data, np.complex64).view(np.float32).ravel()
        n = self.count
        self.count += 1
        if flag_set(row["flags"], ACQ_IS_NOISE_MEASUREMENT)[0]:
            self.noise.append((row, payload))
            return None
        s = int(row["idx"]["slice"][0])
        lim = self.hdr.limits.get("slice")
        if lim is not None and not lim.minimum <= s <= lim.maximum:
            raise UserError(f"{self.source}: acquisition {n}: slice {s} is outside the header's "
                            f"encodingLimits slice {lim.minimum}..{lim.maximum}")
        if s in self.done:
            raise UserError(f"{self.source}: acquisition {n}: slice {s} arrived after its "
                            "ACQ_LAST_IN_SLICE readout")
        self.slices.setdefault(s, []).append((row, payload))
        if flag_set(row["flags"], ACQ_LAST_IN_SLICE)[0]:
            self.done.add(s)
            return s
        return None

    def pending(self) -> list[int]:
        """Slices with readouts but no ``ACQ_LAST_IN_SLICE`` yet (completed by CLOSE)."""
        return sorted(s for s in self.slices if s not in self.done)

    def take(self, s: int) -> tuple[dict, np.ndarray]:
        """Slice ``s`` as the raw-data dictionary of :mod:`recon.mri_reconstruction`, and the
        header row of its centre readout (for the image geometry); frees its readouts."""
        from recon.io.ismrmrd import assemble
        from recon.io.ismrmrd_header import Limit
        from recon.mri_reconstruction import from_ismrmrd

        self.done.add(s)
        items = self.noise + self.slices.pop(s)
        head = np.concatenate([r for r, _ in items])
        head["idx"]["slice"] = 0
        payloads = [p for _, p in items]
        limits = {**self.hdr.limits, "slice": Limit(0, 0, 0)}
        hdr = dataclasses.replace(self.hdr, limits=limits)
        name = f"{self.source} slice {s}"
        data = from_ismrmrd(assemble(name, self.xml, hdr, head, lambda: payloads), name)
        rows = head[len(self.noise):]
        centre = self.hdr.pe_centre
        i = int(np.argmin(np.abs(rows["idx"]["kspace_encode_step_1"].astype(int) - centre)))
        return data, rows[i : i + 1]
