"""Effect handlers of pyro-local."""

from .layer_messenger import GLOBAL, LayerMessenger, cut, layer, site_layer
from .local_reparam_messenger import LocalReparameterizationMessenger, local_reparameterization

__all__ = [
    "GLOBAL",
    "LayerMessenger",
    "LocalReparameterizationMessenger",
    "cut",
    "layer",
    "local_reparameterization",
    "site_layer",
]
