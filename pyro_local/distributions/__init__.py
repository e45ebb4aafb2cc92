"""Distributions of pyro-local; importing this package registers their KL divergences."""

from . import (
    kl_matrix_normal,  # noqa: F401  (registers the MatrixNormal KLs with torch)
    kl_normal_matrix_normal,  # noqa: F401  (KL from a mean-field Normal to it)
    kl_rectified_normal,  # noqa: F401  (registers the RectifiedNormal KL with torch)
)
from .factor_structures import DenseFactor, DiagonalFactor, LowRankFactor
from .kronecker_factor import KroneckerFactor
from .matrix_normal import MatrixNormal
from .rectified_normal import RectifiedNormal

__all__ = [
    "DenseFactor",
    "DiagonalFactor",
    "KroneckerFactor",
    "LowRankFactor",
    "MatrixNormal",
    "RectifiedNormal",
]
