"""Small helpers on distribution objects and their parameters."""

from __future__ import annotations

import torch
from pyro.distributions.torch_distribution import ExpandedDistribution, MaskedDistribution
from torch.distributions import Distribution, Independent, Normal

_WRAPPERS = (Independent, ExpandedDistribution, MaskedDistribution)


def unwrapped(fn: Distribution) -> Distribution:
    """
    ``fn`` without the wrappers that ``.to_event``, ``.expand`` and ``.mask`` (and
    plates) put around a distribution: the family a site was written with.
    """
    while isinstance(fn, _WRAPPERS):
        fn = fn.base_dist
    return fn


def mean_field_base(fn: Distribution) -> Normal | None:
    """
    The :class:`~torch.distributions.Normal` of a mean-field Normal over matrices,
    ``Normal(loc, scale).to_event(2)`` (``Independent`` wrappers adding up to two
    event dimensions), or ``None`` for any other distribution.
    """
    ndims = 0
    while isinstance(fn, Independent):
        ndims += fn.reinterpreted_batch_ndims
        fn = fn.base_dist
    return fn if isinstance(fn, Normal) and ndims == 2 else None


def expanded_scalar(value: torch.Tensor, ndims: int) -> torch.Tensor | None:
    """
    ``value`` indexed at 0 along its last ``ndims`` dimensions when it is constant
    along them by construction: each of them has stride 0 (an ``.expand`` of one
    value, as priors build their scales) or size 1. ``None`` otherwise. It reads the
    strides, never the values, so it costs nothing and never synchronizes a device.

    :param torch.Tensor value: a tensor with at least ``ndims`` dimensions.
    :param int ndims: how many trailing dimensions to look at.
    :returns: a tensor of shape ``value.shape[:-ndims]``, or ``None``.
    """
    if value.dim() < ndims:
        return None
    lead = value.dim() - ndims
    trailing = zip(value.shape[lead:], value.stride()[lead:])
    if all(stride == 0 or size == 1 for size, stride in trailing):
        return value[(..., *([0] * ndims))]
    return None


class _SumSquares(torch.autograd.Function):
    # x.square().sum() writes the squares, and its backward makes three passes over
    # x (pow's backward computes x ** 1, doubles it and multiplies by the gradient);
    # here the backward is one product. It is differentiable, so second
    # derivatives work.
    @staticmethod
    def forward(ctx, x, dims):
        ctx.save_for_backward(x)
        ctx.dims = dims
        return (x * x).sum(dims)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        for _ in ctx.dims:
            grad = grad.unsqueeze(-1)
        return x * (2 * grad), None


def sum_squares(x: torch.Tensor, ndims: int = 2) -> torch.Tensor:
    """The sum of squares of ``x`` over its last ``ndims`` dimensions, as one autograd
    op whose backward is one pass over ``x``."""
    return _SumSquares.apply(x, tuple(range(-ndims, 0)))
