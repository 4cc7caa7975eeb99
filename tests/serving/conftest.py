"""A tiny 2-slice ISMRMRD scan (noise scan, 2x readout oversampling, ACS lines, R=2) and a
``recon serve`` running in a thread on a free port of 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest

from tests import ismrmrd_files

SLICES, COILS, RO, PE = 2, 4, 64, 32  # RO includes the 2x oversampling: 32x32 images


def write_scan(path, seed: int = 0) -> None:
    from recon.io.ismrmrd import header_xml

    rng = np.random.default_rng(seed)
    readouts = [{"data": (rng.standard_normal((COILS, 256))
                          + 1j * rng.standard_normal((COILS, 256))) * 1e-3, "flags": [19]}]
    acs = set(range(PE // 2 - 4, PE // 2 + 4))
    for s in range(SLICES):
        k = ismrmrd_files.random_kspace(COILS, RO, PE, seed=seed + s)
        lines = [ln for ln in range(PE) if ln % 2 == 0 or ln in acs]
        for n, ln in enumerate(lines):
            flags = [] if ln % 2 == 0 or ln not in acs else [20]
            if ln % 2 == 0 and ln in acs:
                flags = [21]
            if n == len(lines) - 1:
                flags.append(8)  # ACQ_LAST_IN_SLICE
            readouts.append({"data": k[:, :, ln], "line": ln, "slice": s, "flags": flags})
    ismrmrd_files.write(path, header_xml(RO, PE, SLICES, COILS, oversampling=2), readouts)


@pytest.fixture(scope="session")
def scan(tmp_path_factory):
    path = tmp_path_factory.mktemp("scan") / "scan.h5"
    write_scan(path)
    return path


@pytest.fixture(scope="module")
def server():
    from recon.serving.server import ReconServer

    srv = ReconServer("127.0.0.1", 0, workers=2)
    srv.start()
    yield srv
    srv.shutdown()
