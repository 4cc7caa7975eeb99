"""The sampling pattern of Cartesian k-space, detected from the data, and its calibration region.

A Cartesian acquisition samples a subset of the ``(H, W)`` grid (rows ``H`` = readout in the
fastMRI layout, columns ``W`` = phase encode). Undersampled files store zeros where nothing was
measured, so the pattern is the set of positions where any coil of a slice is nonzero
(a measured sample is never exactly zero in every coil: receiver noise alone prevents it).
:func:`detect` names the pattern:

- ``fully sampled``: every position;
- ``1D phase encode``: whole phase-encode lines (columns), the usual 2D Cartesian scan; the mask
  is ``(W,)``;
- ``1D readout``: whole rows only, i.e. undersampling along the readout axis (physically unusual:
  often a file with its two axes swapped); reconstructed with the ``(H, W)`` mask;
- ``2D``: anything else (Poisson-disc, variable-density random, a 2D phase-encode plane stored
  as ``(H, W)``); the mask is ``(H, W)``.

Every one of these is a valid Cartesian SENSE problem ``y = M F S x`` with ``M`` the detected
mask, so all are reconstructed; the acceleration is ``H W / (number of sampled positions)``.

Coil calibration (ESPIRiT) needs a fully sampled centred block: :func:`calibration_region`
finds the largest centred block (centred as :func:`recon.coils.espirit` crops it) that is fully
sampled and chooses the ESPIRiT kernel width and calibration shape for it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from recon.errors import UserError

FULL = "fully sampled"
PHASE_ENCODE = "1D phase encode"
READOUT = "1D readout"
TWO_D = "2D"


@dataclasses.dataclass(frozen=True)
class SamplingPattern:
    """What :func:`detect` found: ``kind`` (one of the four names above), the mask (``(W,)``
    for a fully sampled or phase-encode pattern, else ``(H, W)``; float32 0/1), the
    acceleration, the fully sampled centred block ``(rows, columns)`` and the grid ``(H, W)``."""

    kind: str
    mask: np.ndarray
    acceleration: float
    centre: tuple[int, int]
    shape: tuple[int, int]

    @property
    def mask2d(self) -> np.ndarray:
        """The mask on the full ``(H, W)`` grid (bool)."""
        return np.broadcast_to(self.mask != 0, self.shape)

    def describe(self) -> str:
        """One phrase for people: ``2D, acceleration 4.02, fully sampled centre 24x20``."""
        ch, cw = self.centre
        text = f"{self.kind}, acceleration {self.acceleration:.2f}"
        if self.kind == PHASE_ENCODE:
            return f"{text}, {cw} fully sampled centre lines"
        if self.kind != FULL:
            text += (f", fully sampled centre {ch}x{cw}" if ch and cw
                     else ", no fully sampled centre")
        return text


def sampled_positions(kspace: np.ndarray, source: str) -> np.ndarray:
    """``(H, W)`` bool: where the slices of ``kspace`` ``(S, C, H, W)`` hold data.

    Every slice that holds any data must be sampled at the same positions (one pattern per
    file); slices without any data (outside the object, noise-free simulations) are ignored.
    """
    per_slice = np.any(kspace != 0, axis=1)  # (S, H, W)
    counts = per_slice.reshape(per_slice.shape[0], -1).sum(axis=1)
    filled = np.flatnonzero(counts)
    if filled.size == 0:
        raise UserError(f"{source}: 'kspace' is all zero")
    first = per_slice[filled[0]]
    for s in filled[1:]:
        if not np.array_equal(per_slice[s], first):
            raise UserError(
                f"{source}: slices are sampled differently (slice {filled[0]}: {counts[filled[0]]}"
                f" samples, slice {s}: {counts[s]}); expected one sampling pattern for all "
                f"slices of a file")
    return first


def _centre_block(sampled: np.ndarray) -> tuple[int, int]:
    """Largest-area ``(rows, cols)`` centred block (start ``n//2 - m//2``) fully sampled."""
    h, w = sampled.shape
    csum = np.zeros((h + 1, w + 1), np.int64)
    csum[1:, 1:] = np.cumsum(np.cumsum(sampled, axis=0), axis=1)

    def full(ch: int, cw: int) -> bool:
        r0, c0 = h // 2 - ch // 2, w // 2 - cw // 2
        total = (csum[r0 + ch, c0 + cw] - csum[r0, c0 + cw] - csum[r0 + ch, c0]
                 + csum[r0, c0])
        return int(total) == ch * cw

    best, ch = (0, 0), h
    # the centred blocks are nested as either side grows, so the highest fully sampled block
    # of width cw can only shrink as cw grows: one pass over the widths (two pointers)
    for cw in range(1, w + 1):
        while ch > 0 and not full(ch, cw):
            ch -= 1
        if ch == 0:
            break
        if ch * cw > best[0] * best[1]:
            best = (ch, cw)
    return best


def detect(sampled: np.ndarray) -> SamplingPattern:
    """Name the pattern of the ``(H, W)`` sampled positions (module docstring)."""
    sampled = np.asarray(sampled, bool)
    h, w = sampled.shape
    rows, cols = sampled.any(axis=1), sampled.any(axis=0)
    separable = np.array_equal(sampled, rows[:, None] & cols[None, :])
    acceleration = float(sampled.size / max(int(sampled.sum()), 1))
    centre = _centre_block(sampled)
    if separable and rows.all():
        kind = FULL if cols.all() else PHASE_ENCODE
        return SamplingPattern(kind, cols.astype(np.float32), acceleration, centre, (h, w))
    kind = READOUT if separable and cols.all() else TWO_D
    return SamplingPattern(kind, sampled.astype(np.float32), acceleration, centre, (h, w))


def calibration_region(mask: np.ndarray, shape: tuple[int, int], num_coils: int
                       ) -> tuple[tuple[int, int], int]:
    """ESPIRiT ``(calib_shape, kernel_width)`` for a sampling ``mask`` ``(W,)`` or ``(H, W)``.

    A 1D phase-encode mask keeps :func:`recon.coils.espirit.default_calib_shape` (centre lines,
    a readout extent sized for a well-posed kernel estimate). Any other mask uses its largest
    fully sampled centred block, each side capped as in ``default_calib_shape`` (at 24, or at
    what twice as many calibration rows as unknowns needs). Raises ``ValueError`` when the
    centre is too small for the kernel.
    """
    from recon.coils.espirit import acs_width, default_calib_shape, default_kernel_width

    h, w = shape
    m = np.asarray(mask) != 0
    if m.ndim == 1 or m.shape[0] == 1:
        line = m.reshape(-1)
        acs = acs_width(line)
        kernel = default_kernel_width(acs)
        return default_calib_shape((h, w), acs, num_coils, kernel), kernel
    ch, cw = _centre_block(np.broadcast_to(m, (h, w)))
    kernel = default_kernel_width(min(ch, cw))
    if min(ch, cw) < kernel + 1:
        raise ValueError(
            f"ESPIRiT coil calibration needs a fully sampled centre of at least "
            f"{kernel + 1}x{kernel + 1} k-space samples, found {ch}x{cw}")

    def cap(n: int, other: int) -> int:
        need = math.ceil(2 * num_coils * kernel**2 / (min(other, 24) - kernel + 1)) + kernel - 1
        return min(n, max(24, need))

    return (cap(ch, cw), cap(cw, ch)), kernel
