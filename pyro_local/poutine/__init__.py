"""Effect handlers of pyro-local: ``layer`` labels each site with its layer, ``cut``
stops gradients at a layer's boundary, and ``replay`` is Pyro's replay keeping those
labels (with :func:`guide_site_layers`, the layer of each site of a guide trace).

The local-reparameterization handler of the Bayesian layers lives with them, in
:mod:`pyro_local.nn` (:func:`pyro_local.nn.local_reparameterization`).
"""

from .layer_messenger import GLOBAL, LayerMessenger, cut, guide_site_layers, layer, site_layer
from .replay_messenger import replay

__all__ = ["GLOBAL", "LayerMessenger", "cut", "guide_site_layers", "layer", "replay", "site_layer"]
