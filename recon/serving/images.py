"""Reconstructed slices -> MRD images (``ismrmrd.Image``, message id 1022).

Each slice is one float32 magnitude image on fastMRI's intensity scale (the values of
``recon mri``'s ``reconstruction`` dataset, unscaled: ``ImageScale`` 1 in the meta), the data
array ``rows x columns`` exactly as ``recon mri`` writes it for the same ``--orientation``.
Header fields a viewer needs (ISMRMRD ``ImageHeader``): ``matrix_size`` (columns, rows, 1),
``field_of_view`` (``reconSpace`` ``fieldOfView_mm`` of the raw header), ``position``,
``read_dir``, ``phase_dir``, ``slice_dir`` and ``patient_table_position`` copied from the slice's
centre readout, ``slice``, ``image_index`` (slice + 1), ``image_series_index`` (1 for the
images, 2 for the posterior standard deviation of diffusion methods with ``samples > 1``),
``image_type`` ``IMTYPE_MAGNITUDE``. The meta attributes carry the method, its options and the
server's timing (``ReconSeconds``: reconstruction only; ``LatencySeconds``: from the slice's last
acquisition to the image being sent).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

NS = "{http://www.ismrm.org/ISMRMRD}"


def field_of_view(xml: str) -> tuple[float, float, float]:
    """``reconSpace`` ``fieldOfView_mm`` (x, y, z) of the first encoding, or zeros."""
    try:
        root = ET.fromstring(xml)
        fov = root.find(f"{NS}encoding/{NS}reconSpace/{NS}fieldOfView_mm")
        return tuple(float(fov.find(f"{NS}{a}").text) for a in "xyz")
    except (ET.ParseError, AttributeError, TypeError, ValueError):
        return (0.0, 0.0, 0.0)


def mrd_image(pixels: np.ndarray, row: np.ndarray, slice_no: int, series: int,
              fov: tuple[float, float, float], meta: dict):
    """One MRD image of the 2-D float32 ``pixels`` (see the module docstring)."""
    import ismrmrd

    img = ismrmrd.Image.from_array(np.ascontiguousarray(pixels, np.float32))
    for name in ("position", "read_dir", "phase_dir", "slice_dir", "patient_table_position"):
        setattr(img, name, tuple(float(v) for v in row[name][0]))
    img.field_of_view = tuple(float(v) for v in fov)
    img.slice = slice_no
    img.image_index = slice_no + 1
    img.image_series_index = series
    img.image_type = ismrmrd.IMTYPE_MAGNITUDE
    img.measurement_uid = int(row["measurement_uid"][0])
    img.acquisition_time_stamp = int(row["acquisition_time_stamp"][0])
    img.attribute_string = ismrmrd.Meta({k: str(v) for k, v in meta.items()}).serialize()
    return img


def image_meta(img) -> dict:
    """The meta attributes of a received image as a ``dict`` of strings."""
    import ismrmrd

    return dict(ismrmrd.Meta.deserialize(img.attribute_string or ""))
