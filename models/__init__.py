"""Models built from pyro-local layers and distributions (installed as ``pyro_local.models``)."""

from .architectures import (
    BayesianLeNet5,
    BayesianMLP,
    BayesianRegressor,
    lenet5_blocks,
    mlp_blocks,
)
from .blocks import (
    BayesianClassifier,
    Block,
    LinearHead,
    LocalClassifierBlock,
    local_classifier_net,
    observe_labels,
)
from .predict import predictive_probs

__all__ = [
    "BayesianClassifier",
    "BayesianLeNet5",
    "BayesianMLP",
    "BayesianRegressor",
    "Block",
    "LinearHead",
    "LocalClassifierBlock",
    "lenet5_blocks",
    "local_classifier_net",
    "mlp_blocks",
    "observe_labels",
    "predictive_probs",
]
