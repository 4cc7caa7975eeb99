"""ISMRMRD / MRD raw data (Inati et al., "ISMRM Raw data format", MRM 77:411, 2017), Cartesian 2-D.

The file holds an XML header (``/dataset/xml``) and a table of acquisitions (``/dataset/data``),
each a readout ``(coils, samples)`` with a header: ``flags``, encoding counters ``idx``
(``kspace_encode_step_1`` = phase-encode line, ``slice``, ``average``, ...), ``center_sample``.
This reader reads the acquisition table with h5py in one go (``Dataset.read_acquisition`` per
line is slow), first the headers, then the samples; the ``ismrmrd`` package writes test files.

- **Flags are 1-based bit positions**: flag ``f`` is set when ``flags & (1 << (f - 1))``, as
  ``ismrmrd.FlagsMixin.is_flag_set``; noise scans are ``ACQ_IS_NOISE_MEASUREMENT`` (19), ACS lines
  ``ACQ_IS_PARALLEL_CALIBRATION`` (20, calibration only) and
  ``ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING`` (21, both). Navigator, phase-correction, feedback
  and dummy-scan readouts are skipped.
- Lines are placed by their counters (so any acquisition order gives the same array):
  phase-encode position ``kspace_encode_step_1 - center + PE // 2`` with ``center`` from the
  header's encoding limits, readout position from ``center_sample``; repeated lines (averages) are
  averaged.
- Matrix: ``encodedSpace.matrixSize`` (``x`` readout, ``y`` phase encode); the readout
  oversampling factor is ``encodedSpace.x / reconSpace.x`` (a whole number, else refused);
  ``reconSpace.y`` is returned for the caller to crop or pad the phase-encode field of view.
- Header fields are checked by :mod:`recon.io.ismrmrd_header`, counters (encodings, slices,
  repetitions, averages) by :mod:`recon.io.ismrmrd_counters`; sizes against the memory budget
  (:mod:`recon.io.budget`) before the samples are read.

Output in the fastMRI layout: ``kspace (slices, coils, readout, phase-encode)`` (phase encode last),
the sampled-line mask ``(PE,)``, ``calib`` = k-space with the ACS lines filled in (for coil
calibration only), and the noise samples ``(coils, N)``.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from recon.errors import UserError
from recon.io.fastmri import check_finite, h5_reason, open_h5

ACQ_IS_NOISE_MEASUREMENT = 19
ACQ_IS_PARALLEL_CALIBRATION = 20
ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING = 21
#: navigation (23), phase correction (24), RT/HP feedback (25, 26), dummy scan (27),
#: surface-coil correction scan (28)
SKIPPED_FLAGS = (23, 24, 25, 26, 27, 28)


def flag_set(flags: np.ndarray, flag: int) -> np.ndarray:
    """ISMRMRD flag test: 1-based bit position ``flag``."""
    return (np.asarray(flags, np.uint64) >> np.uint64(flag - 1)) & np.uint64(1) == 1


@dataclasses.dataclass
class IsmrmrdData:
    kspace: np.ndarray  # (S, C, RO, PE) complex64, image lines only
    mask: np.ndarray  # (PE,) float32
    calib: np.ndarray  # (S, C, RO, PE) image + ACS lines
    noise: np.ndarray | None  # (C, N)
    header: str
    encoded_matrix: tuple[int, int]
    recon_matrix: tuple[int, int]
    oversampling: int
    report: list[str] = dataclasses.field(default_factory=list)  # what was combined
    repetitions: int = 1  # repetitions kept apart along the slice axis


def _fail(path: pathlib.Path, msg: str) -> UserError:
    return UserError(f"{path}: {msg}")


def is_ismrmrd(path: str | pathlib.Path) -> bool:
    """True if the HDF5 file has an ISMRMRD ``dataset`` group (``xml`` and ``data``)."""
    with open_h5(path) as f:
        g = f.get("dataset")
        return g is not None and "xml" in g and "data" in g


def read_ismrmrd(path: str | pathlib.Path, dataset: str = "dataset", encoding: int | None = None,
                 repetitions: str = "mean") -> IsmrmrdData:
    """Read a 2-D Cartesian ISMRMRD file into the fastMRI layout (see the module docstring).

    ``encoding`` chooses one of several ``<encoding>`` elements; ``repetitions`` ``"mean"``
    averages the repetitions, ``"separate"`` gives each its own output slices
    (:mod:`recon.io.ismrmrd_counters`). Header checks: :mod:`recon.io.ismrmrd_header`.
    """
    from recon.io.budget import check_dataset
    from recon.io.ismrmrd_header import read_header

    path = pathlib.Path(path)
    with open_h5(path) as f:
        if dataset not in f or "xml" not in f[dataset] or "data" not in f[dataset]:
            raise _fail(path, f"no ISMRMRD '/{dataset}' group with 'xml' and 'data'")
        g = f[dataset]
        try:
            check_dataset(path, g["xml"], f"{dataset}/xml")
            xml = g["xml"][0]
            xml = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else str(xml)
            hdr = read_header(path, xml, encoding)
            check_dataset(path, g["data"], f"{dataset}/data")
            head = g["data"]["head"] if g["data"].size else None
        except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
            raise _fail(path, f"cannot read the acquisitions (truncated file, or not ISMRMRD "
                              f"acquisitions): {h5_reason(err)}") from None
        if head is None:
            raise _fail(path, "no acquisitions")

        def read_payload():
            try:
                return g["data"]["data"]
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise _fail(path, f"cannot read the acquisitions (truncated file?): "
                                  f"{h5_reason(err)}") from None

        return assemble(path, xml, hdr, head, read_payload, repetitions)


def assemble(path: pathlib.Path | str, xml: str, hdr, head: np.ndarray,
             read_payload, repetitions: str = "mean") -> IsmrmrdData:
    """Acquisitions -> arrays: the one ISMRMRD assembly, for files and for streams.

    ``hdr`` is the checked :class:`recon.io.ismrmrd_header.Header` of ``xml``; ``head`` the
    acquisition headers as a structured array (``ismrmrd.hdf5.acquisition_header_dtype``);
    ``read_payload()``, called after the counter and memory checks, returns a sequence whose
    item ``i`` holds acquisition ``i``'s samples as interleaved float32 (re, im), coils x
    samples. ``path`` names the source in messages.
    """
    from recon.io.budget import check_bytes
    from recon.io.ismrmrd_counters import check_counters

    path = pathlib.Path(path)
    selection = _classify(path, head)
    counters = check_counters(path, head, selection["data"], ~selection["acs_only"], hdr,
                              repetitions)
    ncoil = int(np.max(head["active_channels"][counters.selected]))
    samples_bytes = 8 * float(np.sum(head["active_channels"].astype(np.float64)
                                     * head["number_of_samples"]))
    grid = float(counters.n_slots) * ncoil * hdr.encoded[0] * hdr.encoded[1]
    # the samples as read, two complex128 accumulators and two complex64 results
    check_bytes(path, f"{counters.n_slots} slice(s) x {ncoil} coils x "
                      f"{hdr.encoded[0]} x {hdr.encoded[1]} k-space", samples_bytes
                + grid * (16 * 2 + 8 * 2))
    payload = read_payload()
    table = {"head": head, "data": payload}
    ro, pe = hdr.encoded[0], hdr.encoded[1]
    rro, rpe = hdr.recon[0], hdr.recon[1]
    centre = hdr.pe_centre
    oversampling = hdr.oversampling

    flags = head["flags"]
    noise_sel = flag_set(flags, ACQ_IS_NOISE_MEASUREMENT)
    acs_only = flag_set(flags, ACQ_IS_PARALLEL_CALIBRATION)
    acs_img = flag_set(flags, ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING)
    chans = head["active_channels"].astype(int)
    nsamp = head["number_of_samples"].astype(int)
    data_sel = counters.selected
    ncoil = int(chans[data_sel][0])
    if np.any(chans[data_sel] != ncoil):
        raise _fail(path, "acquisitions disagree on the number of active coils")

    def samples(i: int) -> np.ndarray:
        raw = np.asarray(table["data"][i], np.float32)
        if raw.size != 2 * chans[i] * nsamp[i]:
            raise _fail(path, f"acquisition {i}: {raw.size} values for {chans[i]} coils x "
                              f"{nsamp[i]} samples")
        return raw.view(np.complex64).reshape(chans[i], nsamp[i])

    noise = None
    if noise_sel.any():
        order = np.flatnonzero(noise_sel)
        order = order[np.argsort(head["scan_counter"][order], kind="stable")]
        noise = np.concatenate([samples(i) for i in order], axis=1)
        if noise.shape[0] != ncoil:
            raise _fail(path, f"noise scans have {noise.shape[0]} coils, data {ncoil}")
        check_finite(path, "noise", noise)

    idx = head["idx"]
    slices = counters.slot
    nsl = counters.n_slots
    lines = idx["kspace_encode_step_1"].astype(int) - centre + pe // 2
    shape = (nsl, ncoil, ro, pe)
    acc = {"img": np.zeros(shape, np.complex128), "cal": np.zeros(shape, np.complex128)}
    cnt = {"img": np.zeros((nsl, pe)), "cal": np.zeros((nsl, pe))}
    for i in np.flatnonzero(data_sel):
        ln = lines[i]
        if not 0 <= ln < pe:
            raise _fail(path, f"acquisition {i}: phase-encode line {idx['kspace_encode_step_1'][i]}"
                              f" is outside the encoded matrix ({pe} lines, centre {centre})")
        d = samples(i)
        start = ro // 2 - int(head["center_sample"][i])
        lo, hi = max(start, 0), min(start + d.shape[1], ro)
        seg = d[:, lo - start : hi - start]
        targets = ("cal",) if acs_only[i] else (("img", "cal") if acs_img[i] else ("img",))
        for t in targets:
            acc[t][slices[i], :, lo:hi, ln] += seg
            cnt[t][slices[i], ln] += 1
    kspace = acc["img"] / np.maximum(cnt["img"], 1)[:, None, None, :]
    calib = acc["cal"] / np.maximum(cnt["cal"], 1)[:, None, None, :]
    # the calibration array also holds every image line (ACS lines take precedence)
    calib = np.where((cnt["cal"] > 0)[:, None, None, :], calib, kspace)
    check_finite(path, "data", kspace)
    mask = (cnt["img"].sum(axis=0) > 0).astype(np.float32)
    if not mask.any():
        raise _fail(path, "no imaging lines (only calibration lines)")
    return IsmrmrdData(kspace.astype(np.complex64), mask, calib.astype(np.complex64), noise,
                       xml, (ro, pe), (rro, rpe), oversampling, counters.report,
                       counters.repetitions)


def _classify(path: pathlib.Path, head: np.ndarray) -> dict[str, np.ndarray]:
    """Readouts by flag: ``data`` (imaging or calibration: neither noise nor skipped) and
    ``acs_only`` (calibration only); refuses a file without any."""
    flags = head["flags"]
    skip = flag_set(flags, ACQ_IS_NOISE_MEASUREMENT)
    for fl in SKIPPED_FLAGS:
        skip |= flag_set(flags, fl)
    data = ~skip
    if not data.any():
        raise _fail(path, "no imaging or calibration acquisitions (only noise/skipped readouts)")
    if np.any(head["active_channels"][data] == 0):
        i = int(np.flatnonzero(data & (head["active_channels"] == 0))[0])
        raise _fail(path, f"acquisition {i}: active_channels is 0")
    return {"data": data, "acs_only": flag_set(flags, ACQ_IS_PARALLEL_CALIBRATION)}


def header_xml(readout: int, phase: int, slices: int, coils: int, oversampling: int = 1) -> str:
    """A minimal valid ISMRMRD header for a 2-D Cartesian scan (used by :func:`write_ismrmrd`)."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
 <acquisitionSystemInformation><receiverChannels>{coils}</receiverChannels>
 </acquisitionSystemInformation>
 <experimentalConditions><H1resonanceFrequency_Hz>63500000</H1resonanceFrequency_Hz>
 </experimentalConditions>
 <encoding>
  <encodedSpace><matrixSize><x>{readout}</x><y>{phase}</y><z>1</z></matrixSize>
   <fieldOfView_mm><x>{256 * oversampling}</x><y>256</y><z>5</z></fieldOfView_mm></encodedSpace>
  <reconSpace><matrixSize><x>{readout // oversampling}</x><y>{phase}</y><z>1</z></matrixSize>
   <fieldOfView_mm><x>256</x><y>256</y><z>5</z></fieldOfView_mm></reconSpace>
  <encodingLimits>
   <kspace_encoding_step_1><minimum>0</minimum><maximum>{phase - 1}</maximum>
    <center>{phase // 2}</center></kspace_encoding_step_1>
   <slice><minimum>0</minimum><maximum>{slices - 1}</maximum><center>0</center></slice>
  </encodingLimits>
  <trajectory>cartesian</trajectory>
 </encoding>
</ismrmrdHeader>"""


def write_ismrmrd(
    path: str | pathlib.Path,
    kspace: np.ndarray,
    mask: np.ndarray,
    acs: np.ndarray | None = None,
    noise: np.ndarray | None = None,
    oversampling: int = 1,
    shuffle_seed: int | None = None,
) -> None:
    """Write k-space ``(S, C, RO, PE)`` as an ISMRMRD file through the ``ismrmrd`` package.

    Lines with ``mask`` set are imaging lines; lines in ``acs`` (a ``(PE,)`` boolean) that are
    also imaging lines get flag 21, those that are not get flag 20 (calibration only). ``noise``
    ``(C, N)`` is written first as a noise scan (flag 19). ``shuffle_seed`` writes the readouts
    in a random order (the reader must sort by counters). Written atomically.
    """
    import os
    import tempfile

    import ismrmrd

    path = pathlib.Path(path)
    nsl, ncoil, ro, pe = kspace.shape
    acs = np.zeros(pe, bool) if acs is None else np.asarray(acs, bool)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        ds = ismrmrd.Dataset(tmp, "dataset", create_if_needed=True)
        ds.write_xml_header(header_xml(ro, pe, nsl, ncoil, oversampling).encode())
        counter = 0
        if noise is not None:
            acq = ismrmrd.Acquisition.from_array(np.asarray(noise, np.complex64))
            acq.set_flag(ACQ_IS_NOISE_MEASUREMENT)
            acq.scan_counter = counter
            counter += 1
            ds.append_acquisition(acq)
        items = [(s, ln) for s in range(nsl) for ln in range(pe) if mask[ln] or acs[ln]]
        if shuffle_seed is not None:
            np.random.default_rng(shuffle_seed).shuffle(items)
        for s, ln in items:
            acq = ismrmrd.Acquisition.from_array(np.ascontiguousarray(kspace[s, :, :, ln],
                                                                      np.complex64))
            acq.idx.kspace_encode_step_1 = ln
            acq.idx.slice = s
            acq.center_sample = ro // 2
            acq.scan_counter = counter
            counter += 1
            if acs[ln]:
                acq.set_flag(ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING if mask[ln]
                             else ACQ_IS_PARALLEL_CALIBRATION)
            ds.append_acquisition(acq)
        ds.close()
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
