"""Bayesian layers with matrix-variate Gaussian weights and the local
reparameterization trick (Louizos & Welling 2016)."""

from .bayes_layers import BayesConv2d, BayesLinear, Bias
from .deferred import BIAS_ROW, LOCAL_REPARAM, defer, deferred_posterior
from .local_reparam import PseudoData, preactivation_moments, sample_preactivations
from .priors import MatrixNormalPrior, NormalPrior
from .pseudo_data import PseudoDataModule, noise_neg_kl
from .weight_maps import Conv2dMap, LinearMap, WeightMap
from .weight_op import WEIGHT_APPLY, weight_apply

__all__ = [
    "BIAS_ROW",
    "LOCAL_REPARAM",
    "WEIGHT_APPLY",
    "BayesConv2d",
    "BayesLinear",
    "Bias",
    "Conv2dMap",
    "LinearMap",
    "MatrixNormalPrior",
    "NormalPrior",
    "PseudoData",
    "PseudoDataModule",
    "WeightMap",
    "defer",
    "deferred_posterior",
    "noise_neg_kl",
    "preactivation_moments",
    "sample_preactivations",
    "weight_apply",
]
