"""File formats: fastMRI HDF5 and ISMRMRD/MRD raw data in, atomic HDF5 out (and CT HDF5)."""

from recon.io.fastmri import FastMRIData as FastMRIData
from recon.io.fastmri import read_fastmri as read_fastmri
from recon.io.fastmri import write_fastmri as write_fastmri
from recon.io.hdf5 import atomic_h5 as atomic_h5
from recon.io.ismrmrd import IsmrmrdData as IsmrmrdData
from recon.io.ismrmrd import is_ismrmrd as is_ismrmrd
from recon.io.ismrmrd import read_ismrmrd as read_ismrmrd
from recon.io.ismrmrd import write_ismrmrd as write_ismrmrd
