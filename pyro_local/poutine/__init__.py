"""Effect handlers of pyro-local.

The local-reparameterization handler of the Bayesian layers lives with them, in
:mod:`pyro_local.nn` (:func:`pyro_local.nn.local_reparameterization`).
"""

from .layer_messenger import GLOBAL, LayerMessenger, cut, layer, site_layer

__all__ = ["GLOBAL", "LayerMessenger", "cut", "layer", "site_layer"]
