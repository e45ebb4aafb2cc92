"""Networks for local learning (installed as ``pyro_local.models``).

Each builder returns a :class:`pyro_local.nn.Stack`, trainable end to end
(:func:`pyro_local.nn.backprop_net`) or with any local rule
(:func:`pyro_local.nn.local_net`).
"""

from .mlp import mlp
from .small_conv import small_conv
from .vgg import vgg8
from .vit import small_vit

__all__ = ["mlp", "small_conv", "small_vit", "vgg8"]
