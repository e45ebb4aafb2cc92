"""Modules for local learning: networks as blocks, and the local objectives (heads).

A :class:`Stack` describes a feed-forward network; :func:`local_net` turns it into a
:class:`~pyro_local.infer.LocalNet` whose every block is trained by its own local
objective, written as Pyro sites by a head:

- :class:`GreedyHeads`: a learned linear or small conv classifier per layer;
- :class:`SVP`: stochastic layers, fixed random projections, Bhattacharyya alignment;
- :class:`LLS`: a fixed periodic class basis (LLS, LLS-M, LLS-MxM);
- :class:`ContSup`: a context path (input and/or earlier module inputs) added to each
  module's cut input, combined with any of the heads.

:func:`backprop_net` trains the same :class:`Stack` end to end, for comparison.
"""

from .contsup import ContextEncoder, ContextState, ContextSupplyModule, ContSup
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
from .stack import Flatten, Stack
from .svp import SVP, SVPHead, bhattacharyya_distance

__all__ = [
    "LLS",
    "OUTPUT",
    "SVP",
    "BackpropLayer",
    "ContSup",
    "ContextEncoder",
    "ContextState",
    "ContextSupplyModule",
    "ConvHead",
    "Flatten",
    "GreedyHeads",
    "LLSHead",
    "LayerSpec",
    "LinearHead",
    "LocalHead",
    "LocalLayer",
    "OutputLayer",
    "SVPHead",
    "Stack",
    "backprop_net",
    "bhattacharyya_distance",
    "fixed_gaussian",
    "layer_specs",
    "lls_basis",
    "local_net",
    "pool_features",
    "pooled_dim",
    "pooled_shape",
    "predict",
]
