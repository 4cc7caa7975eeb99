"""Coil-sensitivity estimation (ESPIRiT)."""

from recon.coils.espirit import acs_width as acs_width
from recon.coils.espirit import default_calib_shape as default_calib_shape
from recon.coils.espirit import espirit as espirit
