"""fastMRI HDF5 raw data (Zbontar et al., arXiv:1811.08839; ``fastmri/data/mri_data.py``).

Layout read here:

- ``kspace``: complex, ``(slices, coils, H, W)`` (multi-coil) or ``(slices, H, W)`` (single-coil,
  returned with a coil axis of 1); the phase-encode direction is the last axis ``W``;
- ``mask`` (optional, test/challenge files): ``(W,)`` sampled phase-encode lines;
- ``ismrmrd_header`` (optional): the ISMRMRD XML header (bytes or str);
- ``reconstruction_rss`` (optional): the reference RSS image ``(slices, h, w)``.

Without a ``mask`` dataset the sampled lines are the columns where any coil/slice/readout sample is
nonzero (the zero-filled convention of the undersampled fastMRI files).

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
    mask: np.ndarray  # (W,) float32 {0, 1}
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
        raise _fail(path, f"not a readable HDF5 file (truncated or another format: {err})"
                    ) from None


def check_finite(path: pathlib.Path, name: str, arr: np.ndarray) -> None:
    if not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise _fail(path, f"'{name}' contains {bad} NaN or Inf values")


def check_mask(path: pathlib.Path, kspace: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The sampled lines ``(W,)``: given (checked against the k-space) or inferred from it."""
    width = kspace.shape[-1]
    sampled = np.any(kspace != 0, axis=tuple(range(kspace.ndim - 1)))
    if mask is None:
        if not sampled.any():
            raise _fail(path, "'kspace' is all zero")
        return sampled.astype(np.float32)
    mask = np.asarray(mask)
    if mask.dtype == object or not (np.issubdtype(mask.dtype, np.number)
                                    or mask.dtype == np.bool_):
        raise _fail(path, f"'mask' must be numeric or boolean, found dtype {mask.dtype}")
    mask = mask.reshape(-1) if mask.size == width else mask
    if mask.shape != (width,):
        raise _fail(path, f"'mask' has shape {mask.shape}, expected ({width},) = the last "
                          f"(phase-encode) axis of 'kspace'")
    if not np.isfinite(mask.astype(np.float64)).all():
        raise _fail(path, "'mask' contains NaN or Inf values")
    m = mask != 0
    if not m.any():
        raise _fail(path, "'mask' is all zero (no sampled lines)")
    contradict = np.flatnonzero(sampled & ~m)
    if contradict.size:
        raise _fail(path, f"'mask' contradicts 'kspace': {contradict.size} lines are marked "
                          f"unsampled but hold data (first: column {contradict[0]})")
    if not sampled[m].any():
        raise _fail(path, "'kspace' is zero on every line the mask marks sampled")
    return m.astype(np.float32)


def read_fastmri(path: str | pathlib.Path) -> FastMRIData:
    """Read and validate a fastMRI-layout HDF5 file."""
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
        try:
            kspace = ds[()]
            mask = f["mask"][()] if "mask" in f else None
            ref = f["reconstruction_rss"][()] if "reconstruction_rss" in f else None
            header = f["ismrmrd_header"][()] if "ismrmrd_header" in f else None
        except OSError as err:
            raise _fail(path, f"cannot read data (truncated file?): {err}") from None
        attrs = {k: (v.item() if hasattr(v, "item") and np.ndim(v) == 0 else v)
                 for k, v in f.attrs.items()}
    if kspace.ndim == 3:
        kspace = kspace[:, None]
    check_finite(path, "kspace", kspace)
    mask = check_mask(path, kspace, mask)
    if isinstance(header, bytes | np.bytes_):
        header = header.decode("utf-8", "replace")
    elif header is not None:
        header = str(header)
    return FastMRIData(kspace.astype(np.complex64), mask, header, ref, attrs)


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
