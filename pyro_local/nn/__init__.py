"""Modules of pyro-local.

Bayesian layers with matrix-variate Gaussian weights and the local reparameterization
trick (Louizos & Welling 2016): :class:`BayesLinear`, :class:`BayesConv2d`, priors and
pseudo-data.

Local learning: a :class:`LocalNet` is a network as a sequence of per-layer Pyro
programs; a :class:`Stack` describes a feed-forward network, and :func:`local_net`
turns it into a :class:`LocalNet` whose every block is trained by its own local
objective, written as Pyro sites by a head:

- :class:`GreedyHeads`: a learned linear or small conv classifier per layer;
- :class:`SVP`: stochastic layers, fixed random projections, Bhattacharyya alignment;
- :class:`LLS`: a fixed periodic class basis (LLS, LLS-M, LLS-MxM);
- :class:`ContSup`: a context path (input and/or earlier module inputs) added to each
  module's cut input, combined with any of the heads.

:func:`backprop_net` trains the same :class:`Stack` end to end, for comparison.
"""

from .bayes_layers import BayesConv2d, BayesLinear, Bias
from .contsup import ContextEncoder, ContextState, ContextSupplyModule, ContSup
from .deferred import BIAS_ROW, LOCAL_REPARAM, WEIGHT_SCALE, defer, deferred_posterior
from .features import fixed_gaussian, pool_features, pooled_dim, pooled_shape
from .lls import LLS, LLSHead, lls_basis
from .local_heads import ConvHead, GreedyHeads, LinearHead, LocalHead
from .local_layer import (
    OUTPUT,
    BackpropLayer,
    LayerSpec,
    LocalLayer,
    OutputLayer,
    backprop_net,
    layer_specs,
    local_net,
    predict,
)
from .local_reparam import PseudoData, preactivation_moments, sample_preactivations
from .local_reparam_messenger import LocalReparameterizationMessenger, local_reparameterization
from .network import LocalNet
from .priors import MatrixNormalPrior, NormalPrior
from .pseudo_data import PseudoDataModule, noise_neg_kl
from .stack import Flatten, Stack
from .svp import SVP, SVPHead, bhattacharyya_distance
from .weight_maps import Conv2dMap, LinearMap, WeightMap
from .weight_op import WEIGHT_APPLY, weight_apply

__all__ = [
    "BIAS_ROW",
    "WEIGHT_SCALE",
    "BackpropLayer",
    "BayesConv2d",
    "BayesLinear",
    "Bias",
    "ContSup",
    "ContextEncoder",
    "ContextState",
    "ContextSupplyModule",
    "Conv2dMap",
    "ConvHead",
    "Flatten",
    "GreedyHeads",
    "LLS",
    "LLSHead",
    "LOCAL_REPARAM",
    "LayerSpec",
    "LinearHead",
    "LinearMap",
    "LocalHead",
    "LocalLayer",
    "LocalNet",
    "LocalReparameterizationMessenger",
    "MatrixNormalPrior",
    "NormalPrior",
    "OUTPUT",
    "OutputLayer",
    "PseudoData",
    "PseudoDataModule",
    "SVP",
    "SVPHead",
    "Stack",
    "WEIGHT_APPLY",
    "WeightMap",
    "backprop_net",
    "bhattacharyya_distance",
    "defer",
    "deferred_posterior",
    "fixed_gaussian",
    "layer_specs",
    "lls_basis",
    "local_reparameterization",
    "local_net",
    "noise_neg_kl",
    "pool_features",
    "pooled_dim",
    "pooled_shape",
    "preactivation_moments",
    "predict",
    "sample_preactivations",
    "weight_apply",
]
