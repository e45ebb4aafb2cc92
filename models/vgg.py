"""A VGG-8-style CNN (LLS's VGG8) and its deeper variants."""

from __future__ import annotations

import torch

from pyro_local._checks import check_int
from pyro_local.nn import Stack

from .layer_blocks import conv_block, linear_block

#: LLS's VGG8: (output channels, max pool in front) of its six conv layers.
VGG8_CONVS = ((128, False), (256, False), (256, True), (256, False), (512, True), (512, True))


def vgg8(in_channels: int = 1, num_classes: int = 10, image_size: int = 28, width: float = 1.0,
         depth_multiplier: int = 1, hidden: int = 1024) -> Stack:
    """
    LLS's VGG8 as a :class:`~pyro_local.nn.Stack`: conv128 - conv256 - pool -
    conv256 - conv256 - pool - conv512 - pool - conv512 - adaptive average pool to 2x2
    - fc1024 - classifier, each conv and fc ``- BN - LeakyReLU``: 8 weight layers.

    ``depth_multiplier=m`` repeats every conv layer ``m`` times (the repeats keep the
    channels and resolution), giving ``6m + 2`` weight layers: ``m=2`` is the "2x
    deeper" network (12 convs) with the same resolutions, used to show that
    sequential local training's peak activation memory does not grow with depth.

    :param float width: multiplies every layer's width.
    :param int depth_multiplier: repeats of each conv layer.
    :param int hidden: the fc layer's width (before ``width``).
    """
    check_int(depth_multiplier, "depth_multiplier")
    blocks = {}
    c_in = in_channels
    k = 0
    for c, pool in VGG8_CONVS:
        c = max(1, round(width * c))
        for r in range(depth_multiplier):
            k += 1
            blocks[f"conv{k}"] = conv_block(c_in, c, pool="max" if pool and r == 0 else None)
            c_in = c
    d = max(1, round(width * hidden))
    blocks["fc1"] = linear_block(c_in * 4, d, flatten_from=2)
    return Stack(blocks, torch.nn.Linear(d, num_classes), (in_channels, image_size, image_size))


__all__ = ["VGG8_CONVS", "vgg8"]
