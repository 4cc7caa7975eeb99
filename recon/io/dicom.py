"""DICOM output: one MR Image Storage series per reconstruction (pydicom).

Each slice becomes one instance (SOP class MR Image Storage, 1.2.840.10008.5.1.4.1.1.4), 16-bit
unsigned monochrome: the magnitude is scaled so that the series maximum is 4095 and the factor is
written as ``RescaleSlope`` (pixel value x slope = intensity on fastMRI's scale, the values of
``recon mri``'s ``reconstruction``). Geometry from the raw data (ISMRMRD's patient coordinates
are DICOM's LPS, in mm):

- rows of the array run along ISMRMRD ``read_dir`` and columns along ``phase_dir`` for
  ``--orientation fastmri`` (the default; swapped for ``ismrmrd``), so
  ``ImageOrientationPatient`` = (direction along a row, direction down a column) =
  (``phase_dir``, ``read_dir``) resp. (``read_dir``, ``phase_dir``);
- ``PixelSpacing`` = (row spacing, column spacing) = ``reconSpace`` ``fieldOfView_mm`` over the
  matrix; ``SliceThickness`` = ``fieldOfView_mm`` z;
- ``ImagePositionPatient`` (centre of the first pixel) = the slice centre ``position`` minus
  N/2 pixels along each in-plane direction (the centred FFT puts the isocentre at pixel N//2).

Study, series, frame-of-reference and instance UIDs are generated (``pydicom.uid.generate_uid``);
the method and its options are in ``SeriesDescription`` (64 characters at most) and in full in
``ImageComments``. Files are ``DIR/<SeriesInstanceUID>/IM_<slice>.dcm``, written into a temporary
folder renamed at the end.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import shutil
import tempfile

import numpy as np

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def _pixel_spacing(xml: str, shape: tuple[int, int], orientation: str) -> tuple[float, float,
                                                                                   float]:
    from recon.serving.images import field_of_view

    fx, fy, fz = field_of_view(xml)
    rows, cols = shape
    if orientation == "fastmri":  # rows along readout (x), columns along phase encode (y)
        return fx / rows if fx else 1.0, fy / cols if fy else 1.0, fz or 1.0
    return fy / rows if fy else 1.0, fx / cols if fx else 1.0, fz or 1.0


def _patient_position(xml: str) -> str:
    """``measurementInformation/patientPosition`` of the raw header (HFS, FFS, ...) or ''."""
    import xml.etree.ElementTree as ET

    ns = "{http://www.ismrm.org/ISMRMRD}"
    try:
        el = ET.fromstring(xml).find(f"{ns}measurementInformation/{ns}patientPosition")
    except ET.ParseError:
        return ""
    return (el.text or "").strip()[:16] if el is not None else ""


def write_series(folder: str | pathlib.Path, images: np.ndarray, xml: str, rows: np.ndarray,
                 method: str, options: dict, orientation: str = "fastmri",
                 source: str = "") -> pathlib.Path:
    """Write ``images`` ``(slices, H, W)`` as one series into ``folder``; ``rows`` are the
    ISMRMRD acquisition-header rows (one per slice, its centre readout) giving the geometry.
    Returns the series folder."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    images = np.asarray(images, np.float32)
    ns, h, w = images.shape
    drow, dcol, thick = _pixel_spacing(xml, (h, w), orientation)
    peak = float(images.max()) if images.size and images.max() > 0 else 1.0
    slope = float(f"{peak / 4095.0:.10g}")  # as written (DS: 16 characters at most)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    opts = ", ".join(f"{k} {v}" for k, v in options.items())
    description = f"recon {method}" + (f" ({opts})" if opts else "")
    now = datetime.datetime.now()
    folder = pathlib.Path(folder)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=".series.", dir=folder))
    try:
        for s in range(ns):
            read = np.asarray(rows["read_dir"][s], float)
            phase = np.asarray(rows["phase_dir"][s], float)
            centre = np.asarray(rows["position"][s], float)
            along_row, down_col = (phase, read) if orientation == "fastmri" else (read, phase)
            if not (np.linalg.norm(along_row) > 0 and np.linalg.norm(down_col) > 0):
                along_row, down_col = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
            first = centre - (w // 2) * dcol * along_row - (h // 2) * drow * down_col
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = pydicom.Dataset()
            ds.file_meta = meta
            ds.SOPClassUID = MR_IMAGE_STORAGE
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
            ds.SpecificCharacterSet = "ISO_IR 192"
            ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
            ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
            ds.Modality = "MR"
            ds.Manufacturer = "recon-engine"
            ds.PatientName = ""
            ds.PatientID = ""
            ds.PatientBirthDate = ""
            ds.PatientSex = ""
            ds.ReferringPhysicianName = ""
            ds.AccessionNumber = ""
            ds.StudyID = ""
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.FrameOfReferenceUID = frame
            ds.PositionReferenceIndicator = ""
            ds.SeriesNumber = 1
            ds.InstanceNumber = s + 1
            ds.SeriesDescription = description[:64]
            ds.ImageComments = (description + (f"; input {source}" if source else ""))[:10240]
            ds.ImageType = ["DERIVED", "PRIMARY", "OTHER"]
            ds.Laterality = ""
            ds.PatientPosition = _patient_position(xml)
            ds.ScanningSequence = "RM"  # research mode: the sequence is not known here
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "2D"
            ds.RepetitionTime = ""
            ds.EchoTime = ""
            ds.EchoTrainLength = ""
            ds.ImagePositionPatient = [float(v) for v in first]
            ds.ImageOrientationPatient = [float(v) for v in np.r_[along_row, down_col]]
            ds.PixelSpacing = [float(drow), float(dcol)]
            ds.SliceThickness = float(thick)
            ds.SliceLocation = float(np.dot(centre, np.cross(along_row, down_col)))
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows, ds.Columns = h, w
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
            ds.PixelRepresentation = 0
            pixels = np.clip(np.rint(images[s] / slope), 0, 4095).astype(np.uint16)
            ds.RescaleSlope = f"{slope:.10g}"
            ds.RescaleIntercept = "0"
            ds.RescaleType = "US"
            ds.PixelData = pixels.tobytes()
            ds.save_as(tmp / f"IM_{s + 1:04d}.dcm", enforce_file_format=True)
        final = folder / series
        os.replace(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def default_rows(n: int) -> np.ndarray:
    """Acquisition-header rows with the identity geometry (inputs without one, e.g. fastMRI
    files): readout along x, phase encode along y, slices 1 mm apart along z."""
    from ismrmrd.hdf5 import acquisition_header_dtype

    rows = np.zeros(n, acquisition_header_dtype)
    rows["read_dir"] = (1, 0, 0)
    rows["phase_dir"] = (0, 1, 0)
    rows["slice_dir"] = (0, 0, 1)
    rows["position"][:, 2] = np.arange(n, dtype=np.float32)
    return rows


def file_geometry(path: pathlib.Path, n: int) -> tuple[str, np.ndarray]:
    """The XML header and, for each of ``n`` output slices, the header row of the slice's
    centre readout of an ISMRMRD file (slice counter ``s % slices``); identity geometry for
    other files."""
    from recon.io.fastmri import open_h5
    from recon.io.ismrmrd import ACQ_IS_NOISE_MEASUREMENT, flag_set, is_ismrmrd

    if not is_ismrmrd(path):
        return "", default_rows(n)
    with open_h5(path) as f:
        xml = f["dataset/xml"][0]
        head = f["dataset/data"]["head"]
    xml = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else str(xml)
    head = head[~flag_set(head["flags"], ACQ_IS_NOISE_MEASUREMENT)]
    sl = head["idx"]["slice"].astype(int)
    rows = default_rows(n)
    values = np.unique(sl)
    for s in range(n):
        pick = np.flatnonzero(sl == values[s % values.size])
        lines = head["idx"]["kspace_encode_step_1"][pick].astype(int)
        rows[s] = head[pick[np.argmin(np.abs(lines - int(np.median(lines))))]]
    return xml, rows


def write_for_file(folder: str | pathlib.Path, src: pathlib.Path, data: dict, result,
                   args) -> pathlib.Path:
    """``recon mri --dicom DIR``: the series of one reconstructed file."""
    from recon import console

    xml, rows = file_geometry(src, result.images.shape[0])
    out = write_series(folder, result.images, xml, rows, args.method, result.options,
                       orientation=getattr(args, "orientation", "fastmri") or "fastmri",
                       source=str(src))
    console.status(f"recon mri: wrote DICOM series {out} ({result.images.shape[0]} images)")
    return out
