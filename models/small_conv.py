"""LLS's SmallConv: conv32 - pool - conv64 - pool - conv128 - pool to 2x2 - fc512 - fc."""

from __future__ import annotations

import torch

from pyro_local.nn import Stack

from .layer_blocks import conv_block, linear_block


def small_conv(in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
               width: float = 1.0) -> Stack:
    """
    The SmallConv network of LLS (Apolinario et al.) as a
    :class:`~pyro_local.nn.Stack` of four locally trainable blocks: ``conv1``
    (conv32), ``conv2`` (max pool, conv64), ``conv3`` (max pool, conv128), ``fc1``
    (adaptive average pool to 2x2, fc512), then the linear classifier. Every conv and
    fc block is ``conv/linear - BN - LeakyReLU``. Local heads read each block's output
    before the next block's pooling, pooled to 4x4 (``conv1``) or 2x2 (``conv2``,
    ``conv3``), as LLS does.

    :param int in_channels: input channels (1 for Fashion-MNIST).
    :param int num_classes: the number of classes.
    :param int image_size: the input's height and width.
    :param float width: multiplies every layer's width (1: the paper's network).
    """
    c1, c2, c3, d = (max(1, round(width * c)) for c in (32, 64, 128, 512))
    blocks = {
        "conv1": conv_block(in_channels, c1),
        "conv2": conv_block(c1, c2, pool="max"),
        "conv3": conv_block(c2, c3, pool="max"),
        "fc1": linear_block(c3 * 4, d, flatten_from=2),
    }
    return Stack(blocks, torch.nn.Linear(d, num_classes), (in_channels, image_size, image_size),
                 pools={"conv1": 4, "conv2": 2, "conv3": 2})


__all__ = ["small_conv"]
