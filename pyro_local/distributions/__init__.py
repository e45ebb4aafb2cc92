from . import kl_matrix_normal  # noqa: F401  (registers the MatrixNormal KLs with torch)
from .factor_structures import DenseFactor, DiagonalFactor, LowRankFactor  # noqa: F401
from .matrix_normal import MatrixNormal  # noqa: F401
