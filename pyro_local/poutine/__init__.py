"""Effect handlers of pyro-local."""

from .layer_messenger import GLOBAL, LayerMessenger, cut, layer, site_layer

__all__ = ["GLOBAL", "LayerMessenger", "cut", "layer", "site_layer"]
