"""Building blocks shared by the networks: conv/linear + batch norm + nonlinearity."""

from __future__ import annotations

import torch

from pyro_local.nn.stack import Flatten


def conv_block(c_in: int, c_out: int, pool: str | None = None, leaky: bool = True):
    """
    ``[pool] - conv3x3 (padding 1) - BN - LeakyReLU`` (ReLU with ``leaky=False``), the
    block of LLS's networks. ``pool``: ``"max"`` puts a 2x2 max pool in front.
    """
    layers = []
    if pool == "max":
        layers.append(torch.nn.MaxPool2d(2))
    elif pool is not None:
        raise ValueError(f"pool: expected None or 'max', got {pool!r}")
    layers += [torch.nn.Conv2d(c_in, c_out, 3, padding=1), torch.nn.BatchNorm2d(c_out),
               torch.nn.LeakyReLU() if leaky else torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)


def linear_block(d_in: int, d_out: int, flatten_from: int | None = None, leaky: bool = True):
    """
    ``[adaptive avg pool to flatten_from x flatten_from - flatten] - linear - BN -
    LeakyReLU`` (ReLU with ``leaky=False``).
    """
    layers = []
    if flatten_from is not None:
        layers += [torch.nn.AdaptiveAvgPool2d(flatten_from), Flatten()]
    layers += [torch.nn.Linear(d_in, d_out), torch.nn.BatchNorm1d(d_out),
               torch.nn.LeakyReLU() if leaky else torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)


__all__ = ["conv_block", "linear_block"]
