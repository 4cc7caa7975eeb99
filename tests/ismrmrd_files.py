"""Tiny ISMRMRD files with any header and any counters, written with the ``ismrmrd`` package
(as a scanner converter would), for the reader's checks."""

from __future__ import annotations

import numpy as np

NS = "http://www.ismrm.org/ISMRMRD"


def encoding_xml(ro: int, pe: int, recon_ro: int | None = None, recon_pe: int | None = None,
                 trajectory: str = "cartesian", limits: str = "", z: int = 1,
                 recon_space: bool = True) -> str:
    """One ``<encoding>`` element (``limits``: extra ``<encodingLimits>`` children)."""
    recon_ro = ro if recon_ro is None else recon_ro
    recon_pe = pe if recon_pe is None else recon_pe
    rs = (f"<reconSpace><matrixSize><x>{recon_ro}</x><y>{recon_pe}</y><z>1</z></matrixSize>"
          "<fieldOfView_mm><x>256</x><y>256</y><z>5</z></fieldOfView_mm></reconSpace>"
          if recon_space else "")
    return (f"<encoding><encodedSpace><matrixSize><x>{ro}</x><y>{pe}</y><z>{z}</z></matrixSize>"
            "<fieldOfView_mm><x>256</x><y>256</y><z>5</z></fieldOfView_mm></encodedSpace>"
            f"{rs}<encodingLimits><kspace_encoding_step_1><minimum>0</minimum>"
            f"<maximum>{pe - 1}</maximum><center>{pe // 2}</center></kspace_encoding_step_1>"
            f"{limits}</encodingLimits><trajectory>{trajectory}</trajectory></encoding>")


def header(*encodings: str, coils: int = 2) -> str:
    return (f'<?xml version="1.0"?><ismrmrdHeader xmlns="{NS}"><acquisitionSystemInformation>'
            f"<receiverChannels>{coils}</receiverChannels></acquisitionSystemInformation>"
            "<experimentalConditions><H1resonanceFrequency_Hz>63500000"
            "</H1resonanceFrequency_Hz></experimentalConditions>" + "".join(encodings)
            + "</ismrmrdHeader>")


def write(path, xml: str, readouts: list[dict]) -> None:
    """``readouts``: dicts with ``data`` ``(coils, samples)`` complex and optional ``line``,
    ``slice``, ``repetition``, ``average``, ``contrast``, ``encoding`` (encoding_space_ref),
    ``flags`` (list of ISMRMRD flag numbers), ``center``."""
    import ismrmrd

    ds = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    ds.write_xml_header(xml.encode())
    for n, r in enumerate(readouts):
        acq = ismrmrd.Acquisition.from_array(np.ascontiguousarray(r["data"], np.complex64))
        acq.idx.kspace_encode_step_1 = r.get("line", 0)
        acq.idx.slice = r.get("slice", 0)
        acq.idx.repetition = r.get("repetition", 0)
        acq.idx.average = r.get("average", 0)
        acq.idx.contrast = r.get("contrast", 0)
        acq.encoding_space_ref = r.get("encoding", 0)
        acq.center_sample = r.get("center", r["data"].shape[1] // 2)
        acq.scan_counter = n
        for fl in r.get("flags", ()):
            acq.set_flag(fl)
        ds.append_acquisition(acq)
    ds.close()


def cartesian(kspace: np.ndarray, **counters) -> list[dict]:
    """Readouts of every phase-encode line of k-space ``(coils, RO, PE)`` with ``counters``."""
    return [{"data": kspace[:, :, ln], "line": ln, **counters}
            for ln in range(kspace.shape[-1])]


def random_kspace(coils: int, ro: int, pe: int, seed: int = 0) -> np.ndarray:
    """Smooth-image k-space ``(coils, RO, PE)``: the FFT of a random low-pass image per coil."""
    rng = np.random.default_rng(seed)
    k = np.zeros((coils, ro, pe), np.complex64)
    c0, c1 = ro // 2, pe // 2
    k[:, c0 - 4 : c0 + 4, c1 - 4 : c1 + 4] = (rng.standard_normal((coils, 8, 8))
                                             + 1j * rng.standard_normal((coils, 8, 8)))
    return k + 1e-3 * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape))
