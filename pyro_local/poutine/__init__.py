"""Effect handlers of pyro-local: :func:`layer` labels each site with its layer
(``site["infer"]["layer"]``; ``"global"`` outside every layer), :func:`cut` stops
gradients at a layer's boundary, and :func:`replay` is Pyro's replay keeping those
labels.

The local-reparameterization handler of the Bayesian layers lives with them, in
:mod:`pyro_local.nn` (:func:`pyro_local.nn.local_reparameterization`).
"""

from .layer_messenger import cut, layer
from .replay_messenger import replay

__all__ = ["cut", "layer", "replay"]
