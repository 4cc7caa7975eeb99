"""Boundary checks shared by the CT projector factories (one clear ``ValueError`` each)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_shape(name: str, shape: Sequence[int], ndim: int) -> tuple[int, ...]:
    try:
        out = tuple(int(s) for s in shape)
    except TypeError as exc:
        msg = f"{name} must be a tuple of {ndim} positive integers, found {shape!r}"
        raise ValueError(msg) from exc
    if len(out) != ndim or any(s < 1 for s in out):
        raise ValueError(f"{name} must be a tuple of {ndim} positive integers, found {shape!r}")
    return out


def check_angles(angles) -> np.ndarray:
    a = np.asarray(angles)
    if a.ndim != 1 or a.size < 1:
        raise ValueError(f"angles must be a non-empty 1-D array, found shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise ValueError(f"angles must be real numbers (radians), found dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        bad = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"angles must be finite, found {a[bad]} at index {bad}")
    return a.astype(np.float64)


def check_count(name: str, value) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be an integer >= 1, found {value!r}")
    return int(value)


def check_positive(name: str, value) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, found {value!r}")
    return v


def check_finite(name: str, value) -> float:
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, found {value!r}")
    return v


def check_real_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"CT projectors act on float32 or float64 images, found dtype {dt}")
    return dt
