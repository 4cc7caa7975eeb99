"""File formats: fastMRI HDF5 and ISMRMRD/MRD raw data in, atomic HDF5 out (and CT HDF5).

The names below are imported on first use (PEP 562), so that importing one light submodule
(``recon.io.budget``) does not import h5py and NumPy: the command line starts faster.
"""

import importlib

_NAMES = {
    "FastMRIData": "fastmri", "read_fastmri": "fastmri", "write_fastmri": "fastmri",
    "atomic_h5": "hdf5",
    "IsmrmrdData": "ismrmrd", "is_ismrmrd": "ismrmrd", "read_ismrmrd": "ismrmrd",
    "write_ismrmrd": "ismrmrd",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"recon.io.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'recon.io' has no attribute {name!r}")
