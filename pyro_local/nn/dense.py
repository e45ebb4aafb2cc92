"""Small deterministic dense networks (MLPs, Gaussian heads) that models and guides build on."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._checks import is_int

#: softplus(SOFTPLUS_ONE) = 1: the bias that starts a softplus-parameterized scale at 1.
SOFTPLUS_ONE = 0.5413248546129181


def check_dims(dims, name: str, allow_empty: bool = False) -> tuple[int, ...]:
    """
    Validates a sequence of layer widths.

    :param dims: positive ints.
    :param str name: the argument's name, for the error message.
    :returns: the widths as a tuple.
    :raises TypeError: when ``dims`` is not a sequence of ints.
    :raises ValueError: when a width is not positive, or the sequence is empty and
        ``allow_empty`` is false.
    """
    if isinstance(dims, int) or not isinstance(dims, Sequence):
        raise TypeError(f"{name}: expected a sequence of positive ints, got {dims!r}")
    dims = tuple(dims)
    if not all(is_int(d, None) for d in dims):
        raise TypeError(f"{name}: expected a sequence of positive ints, got {dims!r}")
    if not all(is_int(d) for d in dims):
        raise ValueError(f"{name}: expected positive widths, got {dims!r}")
    if not dims and not allow_empty:
        raise ValueError(f"{name}: expected at least one width, got an empty sequence")
    return dims


def dense_mlp(
    in_dim: int,
    hidden_dims: Sequence[int],
    out_dim: int | None = None,
    activation: type[nn.Module] = nn.ELU,
    batch_norm: bool = False,
) -> nn.Sequential:
    """
    A multilayer perceptron ``Linear -> [BatchNorm] -> activation`` per hidden layer,
    then an optional final ``Linear`` to ``out_dim`` with no activation.

    Batch normalisation sits between each hidden linear map and its activation. It
    acts on the last dimension and accepts any number of leading batch dimensions
    (particles, data), which ``torch.nn.BatchNorm1d`` alone does not: inputs are
    flattened to two dimensions around it.

    :param int in_dim: input width.
    :param hidden_dims: hidden widths (may be empty).
    :param int out_dim: output width, or ``None`` to end with the last hidden layer.
    :param activation: the activation's module class.
    :param bool batch_norm: normalise each hidden layer over the batch.
    :returns: the network.
    """
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden_dims:
        layers.append(nn.Linear(width, h))
        if batch_norm:
            layers.append(FlatBatchNorm(h))
        layers.append(activation())
        width = h
    if out_dim is not None:
        layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class FlatBatchNorm(nn.BatchNorm1d):
    """``BatchNorm1d`` over the last dimension of an input with any leading shape."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        shape = input.shape
        return super().forward(input.reshape(-1, shape[-1])).reshape(shape)


class GaussianHead(nn.Module):
    """
    A linear map to the location and scale of ``dim`` Gaussian units:
    ``loc = W1 h + b1``, ``scale = softplus(W2 h + b2) + min_scale``. The scale's
    bias starts where the scale is about 1.

    :param int in_dim: input width.
    :param int dim: number of units.
    :param float min_scale: lower bound on the scale, keeping precisions finite.
    """

    def __init__(self, in_dim: int, dim: int, min_scale: float = 1e-3):
        super().__init__()
        self.linear = nn.Linear(in_dim, 2 * dim)
        self.min_scale = float(min_scale)
        with torch.no_grad():
            self.linear.bias[dim:].fill_(SOFTPLUS_ONE)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, raw_scale = self.linear(h).chunk(2, dim=-1)
        return loc, nn.functional.softplus(raw_scale) + self.min_scale
