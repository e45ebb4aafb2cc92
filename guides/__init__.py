"""Guides (variational families) for pyro-local models (installed as ``pyro_local.guides``)."""

from .bottom_up import BottomUpEncoder
from .gaussian_encoder import GaussianEncoderGuide
from .mean_field_rectified import MeanFieldRectifiedGuide
from .structured_rectified import StructuredRectifiedGuide, precision_weighted

__all__ = [
    "BottomUpEncoder",
    "GaussianEncoderGuide",
    "MeanFieldRectifiedGuide",
    "StructuredRectifiedGuide",
    "precision_weighted",
]
