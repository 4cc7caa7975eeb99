"""The CT input format: an HDF5 file with post-log sinograms and the geometry that made them.

Layout (all lengths in the same unit as ``pixel_size``, angles in radians)::

    /sinogram    float32 (slices, angles, det)            parallel and fan beam
                 float32 (angles, rows, cols)             cone beam (one volume)
    /angles      float64 (angles,)                        projection angles θ_a
    attributes:  geometry      "parallel" | "fan-flat" | "fan-arc" | "cone"
                 image_shape   (H, W), or (D, H, W) for cone beam
                 pixel_size    float, default 1
                 det_spacing   float (cone: (row, col)), default 1
                 det_offset    float, parallel beam only, default 0
                 source_origin float, fan and cone beam: source-to-rotation-centre distance
                 origin_det    float, fan and cone beam: rotation-centre-to-detector distance
    /ground_truth optional float32 (slices, H, W): reference images for ``recon metrics``

The sinogram holds line integrals of the attenuation (``-log(I / I0)``) under the geometry
conventions of :mod:`operators.ct` (DESIGN.md). :func:`read_ct` checks every field and raises
:class:`~recon.errors.UserError` naming the file, the field, what was expected and what was found.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import numpy as np

from recon.errors import UserError

GEOMETRIES = ("parallel", "fan-flat", "fan-arc", "cone")


@dataclasses.dataclass(frozen=True)
class CTData:
    sinogram: np.ndarray  # (slices, angles, det) or (angles, rows, cols) for cone
    angles: np.ndarray
    geometry: str
    image_shape: tuple[int, ...]
    pixel_size: float = 1.0
    det_spacing: Any = 1.0
    det_offset: float = 0.0
    source_origin: float | None = None
    origin_det: float | None = None
    ground_truth: np.ndarray | None = None

    def operator(self, dtype=np.float32):
        """The projector of this geometry (one slice, or the volume for cone beam)."""
        from operators import ct

        if self.geometry == "parallel":
            return ct.parallel_beam(
                self.image_shape, self.angles, self.sinogram.shape[-1], self.det_spacing,
                self.det_offset, self.pixel_size, dtype=dtype,
            )
        if self.geometry in ("fan-flat", "fan-arc"):
            return ct.fan_beam(
                self.image_shape, self.angles, self.sinogram.shape[-1], self.source_origin,
                self.origin_det, self.det_spacing, detector=self.geometry[4:],
                pixel_size=self.pixel_size, dtype=dtype,
            )
        return ct.cone_beam(
            self.image_shape, self.angles, self.sinogram.shape[-2:], self.source_origin,
            self.origin_det, tuple(np.broadcast_to(self.det_spacing, (2,)).tolist()),
            voxel_size=self.pixel_size, dtype=dtype,
        )


def _fail(path, message: str) -> UserError:
    return UserError(f"{path}: {message}")


def read_ct(path: str | pathlib.Path) -> CTData:
    """Read and check a CT file (see the module docstring for the layout)."""
    import h5py

    path = pathlib.Path(path)
    if not path.is_file():
        raise _fail(path, "no such file")
    from recon.io.budget import check_dataset
    from recon.io.fastmri import open_h5

    f = open_h5(path)
    with f:
        for name in ("sinogram", "angles"):
            if name not in f or not isinstance(f[name], h5py.Dataset):
                found = ", ".join(sorted(f.keys())) or "none"
                raise _fail(path, f"missing dataset '/{name}' (found: {found})")
        attrs = dict(f.attrs)
        geometry = attrs.get("geometry", b"parallel")
        geometry = geometry.decode() if isinstance(geometry, bytes) else str(geometry)
        if geometry not in GEOMETRIES:
            raise _fail(path, f"attribute 'geometry' must be one of {', '.join(GEOMETRIES)}, "
                              f"found '{geometry}'")
        sino = f["sinogram"]
        if not np.issubdtype(sino.dtype, np.floating):
            raise _fail(path, f"'/sinogram' must be real floating point, found {sino.dtype}")
        # the array read, its float32 copy and the reconstruction's working set
        check_dataset(path, sino, "/sinogram", itemsize=4, copies=3)
        check_dataset(path, f["angles"], "/angles")
        if "ground_truth" in f:
            check_dataset(path, f["ground_truth"], "/ground_truth", itemsize=4)
        try:
            sinogram = np.asarray(sino[()], np.float32)
            angles = np.asarray(f["angles"][()], np.float64)
            truth = (np.asarray(f["ground_truth"][()], np.float32) if "ground_truth" in f
                     else None)
        except (OSError, TypeError, ValueError) as err:
            from recon.io.fastmri import h5_reason

            raise _fail(path, f"cannot read the data (truncated file?): {h5_reason(err)}"
                        ) from None
    want_ndim = 3
    if sinogram.ndim != want_ndim:
        layout = "(angles, rows, cols)" if geometry == "cone" else "(slices, angles, det)"
        raise _fail(path, f"'/sinogram' must be {layout}, found shape {sinogram.shape}")
    if angles.ndim != 1 or angles.size == 0:
        raise _fail(path, f"'/angles' must be a 1D array of angles in radians, found shape "
                          f"{angles.shape}")
    if not np.all(np.isfinite(angles)):
        bad = int(angles.size - np.count_nonzero(np.isfinite(angles)))
        raise _fail(path, f"'/angles' contains {bad} NaN or Inf value{'s' if bad > 1 else ''}")
    n_angles_axis = 0 if geometry == "cone" else 1
    if sinogram.shape[n_angles_axis] != angles.size:
        raise _fail(path, f"'/sinogram' has {sinogram.shape[n_angles_axis]} angles on axis "
                          f"{n_angles_axis} but '/angles' has {angles.size}")
    if sinogram.size == 0:
        raise _fail(path, f"'/sinogram' is empty, shape {sinogram.shape}")
    if not np.all(np.isfinite(sinogram)):
        raise _fail(path, "'/sinogram' contains NaN or Inf")
    want = 3 if geometry == "cone" else 2
    raw_shape = np.atleast_1d(np.asarray(attrs.get("image_shape", ())))
    if raw_shape.dtype.kind not in "iu" or raw_shape.ndim != 1 or raw_shape.size != want \
            or raw_shape.min() < 1:
        raise _fail(path, f"attribute 'image_shape' must hold {want} positive whole sizes, "
                          f"found {_show(attrs.get('image_shape'))}")
    image_shape = tuple(int(v) for v in raw_shape)
    from recon.io.budget import check_bytes

    slices = 1 if geometry == "cone" else sinogram.shape[0]
    # images, their back-projection and the solver's working copies (float32)
    check_bytes(path, f"{slices} image(s) of attribute 'image_shape' {image_shape}",
                4 * 3 * slices * float(np.prod(image_shape)))
    distances = {}
    for key in ("source_origin", "origin_det"):
        if geometry != "parallel":
            distances[key] = _positive(path, attrs, key, None,
                                       f"a positive distance, required for {geometry} geometry")
    if truth is not None and geometry != "cone" and truth.shape != (
        sinogram.shape[0], *image_shape
    ):
        raise _fail(path, f"'/ground_truth' must be {(sinogram.shape[0], *image_shape)}, "
                          f"found {truth.shape}")
    pixel_size = _positive(path, attrs, "pixel_size", 1.0, "a positive length")
    det_spacing = np.asarray(attrs.get("det_spacing", 1.0))
    if (det_spacing.dtype.kind not in "iuf" or det_spacing.ndim > 1
            or not np.all(np.isfinite(det_spacing)) or not np.all(det_spacing > 0)):
        raise _fail(path, f"attribute 'det_spacing' must be a positive length (cone beam: one "
                          f"or two), found {_show(attrs.get('det_spacing'))}")
    det_spacing = det_spacing.astype(np.float64)
    det_offset = attrs.get("det_offset", 0.0)
    if np.ndim(det_offset) or np.asarray(det_offset).dtype.kind not in "iuf" or not np.isfinite(
            det_offset):
        raise _fail(path, f"attribute 'det_offset' must be a finite length, found "
                          f"{_show(det_offset)}")
    return CTData(
        sinogram=sinogram, angles=angles, geometry=geometry, image_shape=image_shape,
        pixel_size=pixel_size,
        det_spacing=det_spacing.tolist() if det_spacing.ndim else float(det_spacing),
        det_offset=float(det_offset), ground_truth=truth, **distances,
    )


def _show(value: Any) -> str:
    """An attribute value as people write it (no NumPy reprs such as ``np.float64(-1.0)``)."""
    if value is None:
        return "nothing"
    if isinstance(value, bytes):
        return f"'{value.decode('utf-8', 'replace')}'"
    arr = np.asarray(value)
    if arr.dtype.kind in "US":
        return f"'{arr}'"
    return str(arr.tolist())


def _positive(path, attrs: dict, key: str, default: float | None, what: str) -> float:
    """Attribute ``key`` as a finite number > 0 (``default`` when absent, if not ``None``)."""
    value = attrs.get(key, default)
    arr = np.asarray(value) if value is not None else None
    if arr is None or arr.ndim or arr.dtype.kind not in "iuf" or not np.isfinite(arr) \
            or float(arr) <= 0:
        raise _fail(path, f"attribute '{key}' must be {what}, found {_show(value)}")
    return float(arr)


def write_ct(path: str | pathlib.Path, data: CTData) -> None:
    """Write ``data`` in the CT format (temporary name, then rename)."""
    from recon.io.hdf5 import atomic_h5

    with atomic_h5(path) as f:
        f.create_dataset("sinogram", data=np.asarray(data.sinogram, np.float32))
        f.create_dataset("angles", data=np.asarray(data.angles, np.float64))
        if data.ground_truth is not None:
            f.create_dataset("ground_truth", data=np.asarray(data.ground_truth, np.float32))
        f.attrs["geometry"] = data.geometry
        f.attrs["image_shape"] = np.asarray(data.image_shape, np.int64)
        f.attrs["pixel_size"] = data.pixel_size
        f.attrs["det_spacing"] = data.det_spacing
        f.attrs["det_offset"] = data.det_offset
        for key in ("source_origin", "origin_det"):
            value = getattr(data, key)
            if value is not None:
                f.attrs[key] = value
