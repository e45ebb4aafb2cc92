"""A multilayer perceptron with batch normalisation, e.g. 784-3x1024-10."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from pyro_local.nn import Stack
from pyro_local.nn.stack import Flatten


def mlp(input_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (1024, 1024, 1024),
        num_classes: int = 10) -> Stack:
    """
    A :class:`~pyro_local.nn.Stack` of ``linear - BN - ReLU`` blocks ``fc1, fc2, ...``
    (the first flattens its input) and a linear classifier.

    :param tuple input_shape: the input's shape (images are flattened).
    :param hidden: the hidden layers' widths.
    :param int num_classes: the number of classes.
    """
    if not hidden:
        raise ValueError("hidden: expected at least one hidden width, got none")
    d = math.prod(input_shape)
    blocks = {}
    for i, width in enumerate(hidden):
        layers = [Flatten()] if i == 0 else []
        layers += [torch.nn.Linear(d, width), torch.nn.BatchNorm1d(width), torch.nn.ReLU()]
        blocks[f"fc{i + 1}"] = torch.nn.Sequential(*layers)
        d = width
    return Stack(blocks, torch.nn.Linear(d, num_classes), input_shape)


__all__ = ["mlp"]
