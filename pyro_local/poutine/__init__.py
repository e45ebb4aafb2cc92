"""Effect handlers of pyro-local: :func:`layer` labels each site with its layer,
:func:`cut` stops gradients at a layer's boundary, :func:`replay` is Pyro's replay
keeping those labels, and :func:`site_layer` reads a site's layer.

The local-reparameterization handler of the Bayesian layers lives with them, in
:mod:`pyro_local.nn` (:func:`pyro_local.nn.local_reparameterization`).
"""

from .layer_messenger import cut, layer, site_layer
from .replay_messenger import replay

__all__ = ["cut", "layer", "replay", "site_layer"]
