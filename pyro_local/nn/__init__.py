"""Modules of pyro-local.

Bayesian layers with matrix-variate Gaussian weights and the local reparameterization
trick (Louizos & Welling 2016): :class:`BayesLinear` and :class:`BayesConv2d`, their
priors :class:`MatrixNormalPrior` and :class:`NormalPrior`, and the
:func:`local_reparameterization` handler that draws pre-activations instead of weights.

Local learning: a :class:`LocalNet` is a network as a sequence of per-layer Pyro
programs; a :class:`Stack` describes a feed-forward network, and :func:`local_net`
turns it into a :class:`LocalNet` whose every block is trained by its own local
objective, written as Pyro sites by a head (a :class:`LocalHead`; the rules live in
``pyro_local/nn/rules/``):

- :class:`GreedyHeads`: a learned linear or small conv classifier per layer;
- :class:`SVP`: stochastic layers, fixed random projections, Bhattacharyya alignment;
- :class:`LLS`: a fixed periodic class basis (LLS, LLS-M, LLS-MxM);
- :class:`ContSup`: a context path (input and/or earlier module inputs) added to each
  module's cut input, combined with any of the heads.

:func:`predict` gives a trained network's logits; :func:`backprop_net` trains the same
:class:`Stack` end to end, for comparison.
"""

from .bayes_layers import BayesConv2d, BayesLinear
from .local_reparam_messenger import local_reparameterization
from .network import LocalNet
from .priors import MatrixNormalPrior, NormalPrior
from .rules.contsup import ContSup
from .rules.heads import GreedyHeads, LocalHead
from .rules.lls import LLS
from .rules.local_layer import backprop_net, local_net, predict
from .rules.svp import SVP
from .stack import Stack

__all__ = [
    "BayesConv2d",
    "BayesLinear",
    "ContSup",
    "GreedyHeads",
    "LLS",
    "LocalHead",
    "LocalNet",
    "MatrixNormalPrior",
    "NormalPrior",
    "SVP",
    "Stack",
    "backprop_net",
    "local_net",
    "local_reparameterization",
    "predict",
]
