"""Guides (variational families) for pyro-local models (installed as ``pyro_local.guides``)."""

from .posteriors import (
    InitScales,
    MatrixNormalPosterior,
    MeanFieldPosterior,
    NormalPosterior,
    Structure,
)
from .weight_guides import AutoMatrixNormal, AutoMeanFieldNormal, AutoWeightGuide, is_weight_site

__all__ = [
    "AutoMatrixNormal",
    "AutoMeanFieldNormal",
    "AutoWeightGuide",
    "InitScales",
    "MatrixNormalPosterior",
    "MeanFieldPosterior",
    "NormalPosterior",
    "Structure",
    "is_weight_site",
]
