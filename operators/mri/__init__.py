"""MRI forward models: Cartesian SENSE, non-Cartesian NUFFT, sampling masks and trajectories."""

from operators.mri.cartesian import CenteredFFT as CenteredFFT
from operators.mri.cartesian import Sense as Sense
from operators.mri.cartesian import SenseNormal as SenseNormal
from operators.mri.cartesian import fft_op as fft_op
from operators.mri.cartesian import sense as sense
from operators.mri.density import pipe_menon_dcf as pipe_menon_dcf
from operators.mri.masks import equispaced_mask as equispaced_mask
from operators.mri.masks import lines_to_2d as lines_to_2d
from operators.mri.masks import poisson_mask as poisson_mask
from operators.mri.masks import random_mask as random_mask
from operators.mri.nufft import SenseNUFFT as SenseNUFFT
from operators.mri.nufft import default_backend as default_backend
from operators.mri.nufft import nufft as nufft
from operators.mri.nufft import nufft_sense as nufft_sense
from operators.mri.toeplitz import ToeplitzNormal as ToeplitzNormal
from operators.mri.toeplitz import toeplitz_normal as toeplitz_normal
from operators.mri.trajectories import golden_angle_radial as golden_angle_radial
from operators.mri.trajectories import radial as radial
from operators.mri.trajectories import radial_3d as radial_3d
from operators.mri.trajectories import spiral as spiral
