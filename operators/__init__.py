"""Forward models: linear-operator algebra, FFTs, MRI and CT operators.

This package imports nothing else of the project's (DESIGN.md: experiments -> recon -> models ->
operators).
"""

from operators import fft
from operators.linop import (
    Adjoint,
    Compose,
    FunctionOperator,
    Identity,
    LinearOperator,
    Multiply,
    Scale,
    Sum,
    estimate_norm,
)

__all__ = [
    "Adjoint",
    "Compose",
    "FunctionOperator",
    "Identity",
    "LinearOperator",
    "Multiply",
    "Scale",
    "Sum",
    "estimate_norm",
    "fft",
]
