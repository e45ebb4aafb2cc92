"""Guides (variational families) for pyro-local models (installed as ``pyro_local.guides``).

- Weight posteriors for Bayesian layers: :class:`AutoMatrixNormal` (matrix-variate
  Gaussian, Louizos & Welling 2016) and :class:`AutoMeanFieldNormal`.
- Rectified-Gaussian hierarchies (Salimans 2016): :class:`StructuredRectifiedGuide`
  (bottom-up pass, then top-down sampling in the generative order) and
  :class:`MeanFieldRectifiedGuide`; :class:`GaussianEncoderGuide` for the Gaussian VAE.
- Any Pyro model with rectified-Gaussian latents: :class:`AutoRectifiedNormal`, the
  mean-field autoguide that keeps their atom at zero (generic autoguides refuse them).
"""

from .auto_rectified import AutoRectifiedNormal
from .gaussian_encoder import GaussianEncoderGuide
from .mean_field_rectified import MeanFieldRectifiedGuide
from .posteriors import PAPER_INIT, InitScales, init_to_pytorch
from .structured_rectified import StructuredRectifiedGuide
from .weight_guides import AutoMatrixNormal, AutoMeanFieldNormal, AutoWeightGuide

__all__ = [
    "PAPER_INIT",
    "AutoMatrixNormal",
    "AutoMeanFieldNormal",
    "AutoRectifiedNormal",
    "AutoWeightGuide",
    "GaussianEncoderGuide",
    "InitScales",
    "MeanFieldRectifiedGuide",
    "StructuredRectifiedGuide",
    "init_to_pytorch",
]
