"""Distributions of pyro-local; importing this package registers their KL divergences."""

from . import (
    kl_matrix_normal,  # noqa: F401  (registers the MatrixNormal KLs with torch)
    kl_normal_matrix_normal,  # noqa: F401  (KL from a mean-field Normal to it)
)
from .factor_structures import DenseFactor, DiagonalFactor, LowRankFactor
from .kl_rectified_normal import kl_rectified_normal
from .matrix_normal import MatrixNormal
from .rectified_normal import RectifiedNormal

__all__ = [
    "DenseFactor",
    "DiagonalFactor",
    "LowRankFactor",
    "MatrixNormal",
    "RectifiedNormal",
    "kl_rectified_normal",
]
