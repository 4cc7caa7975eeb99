"""MRI forward models: Cartesian SENSE, non-Cartesian NUFFT, sampling masks and trajectories."""

from operators.mri.cartesian import CenteredFFT as CenteredFFT
from operators.mri.cartesian import Sense as Sense
from operators.mri.cartesian import SenseNormal as SenseNormal
from operators.mri.cartesian import fft_op as fft_op
from operators.mri.cartesian import sense as sense
from operators.mri.masks import equispaced_mask as equispaced_mask
from operators.mri.masks import lines_to_2d as lines_to_2d
from operators.mri.masks import poisson_mask as poisson_mask
from operators.mri.masks import random_mask as random_mask
