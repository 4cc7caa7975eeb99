"""fastMRI HDF5 raw data (Zbontar et al., arXiv:1811.08839; ``fastmri/data/mri_data.py``).

Layout read here:

- ``kspace``: complex, ``(slices, coils, H, W)`` (multi-coil) or ``(slices, H, W)`` (single-coil,
  returned with a coil axis of 1); the phase-encode direction is the last axis ``W``;
- ``mask`` (optional, test/challenge files): ``(W,)`` sampled phase-encode lines, or an
  ``(H, W)`` 2D mask (Poisson-disc, random);
- ``ismrmrd_header`` (optional): the ISMRMRD XML header (bytes or str);
- ``reconstruction_rss`` (optional): the reference RSS image ``(slices, h, w)``.

Without a ``mask`` dataset the sampled positions are those where any coil/slice sample is nonzero
(the zero-filled convention of the undersampled fastMRI files); :mod:`recon.sampling` names the
pattern. A 3-D ``kspace`` is ambiguous (``(coils, H, W)`` or ``(slices, H, W)``) and is read as
single-coil slices only when the file or the caller says so (:func:`_coil_layout`).

Every check fails with a :class:`~recon.errors.UserError` whose one-line message names the file
and the problem (the CLI prints it and exits with status 2).
"""

from __future__ import annotations

import dataclasses
import pathlib

import h5py
import numpy as np

from recon.errors import UserError


@dataclasses.dataclass
class FastMRIData:
    kspace: np.ndarray  # (S, C, H, W) complex64
    mask: np.ndarray  # (W,) or (H, W) float32 {0, 1}
    header: str | None
    reference: np.ndarray | None  # reconstruction_rss if present
    attrs: dict


def _fail(path: pathlib.Path, message: str) -> UserError:
    return UserError(f"{path}: {message}")


def open_h5(path: str | pathlib.Path) -> h5py.File:
    """Open an HDF5 file for reading, or raise a one-line :class:`UserError`."""
    path = pathlib.Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    if path.is_dir():
        raise _fail(path, "is a directory, expected an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise _fail(path, f"not a readable HDF5 file ({h5_reason(err)}: truncated, or another "
                          "format)") from None


def h5_reason(err: Exception) -> str:
    """The HDF5 library's reason from an h5py error, without h5py's call description:
    ``Unable to synchronously open file (file signature not found)`` -> ``file signature not
    found``."""
    import re

    text = str(err)
    found = re.findall(r"\(([^()]*)\)", text)
    return found[-1] if found else text.split(",")[0]


def check_finite(path: pathlib.Path, name: str, arr: np.ndarray) -> None:
    if not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise _fail(path, f"'{name}' contains {bad} NaN or Inf values")


def _as_mask(path: pathlib.Path, mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The file's ``mask`` as ``(W,)`` (a line mask) or ``(H, W)`` (a 2D mask), checked."""
    h, w = shape
    mask = np.asarray(mask)
    if mask.dtype == object or not (np.issubdtype(mask.dtype, np.number)
                                    or mask.dtype == np.bool_):
        raise _fail(path, f"'mask' must be numeric or boolean, found dtype {mask.dtype}")
    if mask.size == w:
        mask = mask.reshape(w)
    elif mask.size == h * w:
        mask = mask.reshape(h, w)
    else:
        raise _fail(path, f"'mask' has shape {mask.shape}, expected ({w},) (one value per "
                          f"phase-encode line, the last axis of 'kspace') or ({h}, {w})")
    if not np.isfinite(mask.astype(np.float64)).all():
        raise _fail(path, "'mask' contains NaN or Inf values")
    if not mask.any():
        raise _fail(path, "'mask' is all zero (no sampled lines)")
    return mask != 0


def check_mask(path: pathlib.Path, kspace: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The sampling mask, ``(W,)`` or ``(H, W)``: the file's (checked against the k-space) or,
    without one, the positions where any coil of any slice holds data (``(W,)`` when whole
    phase-encode lines are sampled)."""
    h, w = kspace.shape[-2:]
    sampled = np.any(kspace != 0, axis=tuple(range(kspace.ndim - 2)))  # (H, W)
    if mask is None:
        if not sampled.any():
            raise _fail(path, "'kspace' is all zero")
        lines = sampled.any(axis=0)
        if np.array_equal(sampled, np.broadcast_to(lines, (h, w))):
            return lines.astype(np.float32)
        return sampled.astype(np.float32)
    m = _as_mask(path, mask, (h, w))
    contradict = np.argwhere(sampled & ~np.broadcast_to(m, (h, w)))
    if contradict.size:
        r, c = contradict[0]
        raise _fail(path, f"'mask' contradicts 'kspace': {len(contradict)} samples hold data "
                          f"where the mask marks them unsampled (first: row {r}, column {c})")
    if not (sampled & m).any():
        raise _fail(path, "'kspace' is zero everywhere the mask marks sampled")
    return m.astype(np.float32)


def _coil_layout(path: pathlib.Path, f, ds, single_coil: bool) -> bool:
    """Whether a 3-D ``kspace`` is ``(slices, H, W)`` single-coil data; refuses to guess.

    Single-coil when ``--single-coil`` says so, when the file carries fastMRI's single-coil
    reference ``reconstruction_esc``, or when its ISMRMRD header says ``receiverChannels`` 1.
    """
    if ds.ndim == 4:
        if single_coil and ds.shape[1] != 1:
            raise _fail(path, f"--single-coil given, but 'kspace' is (slices, coils, H, W) with "
                              f"{ds.shape[1]} coils, shape {tuple(ds.shape)}")
        return False
    if single_coil or "reconstruction_esc" in f:
        return True
    if "ismrmrd_header" in f:
        import re

        xml = f["ismrmrd_header"][()]
        xml = xml.decode("utf-8", "replace") if isinstance(xml, bytes | np.bytes_) else str(xml)
        found = re.search(r"<receiverChannels>\s*(\d+)\s*</receiverChannels>", xml)
        if found and int(found.group(1)) == 1:
            return True
    raise _fail(path, f"'kspace' is 3-D, shape {tuple(ds.shape)}: expected (slices, coils, H, W)"
                      f"; if it is (slices, H, W) single-coil data, pass --single-coil")


def read_fastmri(path: str | pathlib.Path, single_coil: bool = False) -> FastMRIData:
    """Read and validate a fastMRI-layout HDF5 file (``single_coil``: read a 3-D ``kspace``
    as ``(slices, H, W)``; see :func:`_coil_layout`)."""
    from recon.io.budget import check_dataset

    path = pathlib.Path(path)
    with open_h5(path) as f:
        if "kspace" not in f:
            found = ", ".join(sorted(f.keys())) or "none"
            raise _fail(path, f"no 'kspace' dataset (found: {found})")
        ds = f["kspace"]
        if not isinstance(ds, h5py.Dataset):
            raise _fail(path, "'kspace' is a group, expected a dataset")
        if not np.issubdtype(ds.dtype, np.complexfloating):
            raise _fail(path, f"'kspace' must be complex, found dtype {ds.dtype}")
        if ds.ndim not in (3, 4):
            raise _fail(path, f"'kspace' must be (slices, coils, H, W) or (slices, H, W), "
                              f"found {ds.ndim}-D shape {ds.shape}")
        if min(ds.shape) == 0:
            raise _fail(path, f"'kspace' is empty, shape {ds.shape}")
        single = _coil_layout(path, f, ds, single_coil)
        # the array read, its complex64 copy and the reconstruction's working set
        check_dataset(path, ds, "kspace", itemsize=8, copies=3)
        for name in ("mask", "reconstruction_rss", "ismrmrd_header"):
            if name in f and isinstance(f[name], h5py.Dataset):
                check_dataset(path, f[name], name)
        try:
            kspace = ds[()]
            mask = f["mask"][()] if "mask" in f else None
            ref = f["reconstruction_rss"][()] if "reconstruction_rss" in f else None
            header = f["ismrmrd_header"][()] if "ismrmrd_header" in f else None
        except (OSError, TypeError) as err:
            raise _fail(path, f"cannot read data (truncated file?): {err}") from None
        attrs = {k: (v.item() if hasattr(v, "item") and np.ndim(v) == 0 else v)
                 for k, v in f.attrs.items()}
    if single:
        kspace = kspace[:, None]
    check_finite(path, "kspace", kspace)
    mask = check_mask(path, kspace, mask)
    if isinstance(header, bytes | np.bytes_):
        header = header.decode("utf-8", "replace")
    elif header is not None:
        header = str(header)
    return FastMRIData(kspace.astype(np.complex64, copy=False), mask, header, ref, attrs)


def write_fastmri(path: str | pathlib.Path, kspace: np.ndarray, mask: np.ndarray | None = None,
                  reference: np.ndarray | None = None, header: str | None = None) -> None:
    """Write a fastMRI-layout file (tests, simulations); atomic."""
    from recon.io.hdf5 import atomic_h5

    with atomic_h5(path) as f:
        f.create_dataset("kspace", data=np.asarray(kspace, np.complex64))
        if mask is not None:
            f.create_dataset("mask", data=np.asarray(mask))
        if reference is not None:
            f.create_dataset("reconstruction_rss", data=np.asarray(reference, np.float32))
        if header is not None:
            f.create_dataset("ismrmrd_header", data=header.encode())
