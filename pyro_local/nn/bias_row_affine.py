"""``c [x, 1] W`` for a weight matrix whose last row is the bias, as one autograd op.

Written with slices, ``c (x @ W[:-1] + W[-1])``, the backward pass writes two
zero-filled gradients the size of ``W`` (one per slice) and adds them: three passes
over the weights for every product a Bayesian layer takes with its mean (and, for a
mean-field posterior, with its variances). Here the gradient of ``W`` is written
once, in place: its first rows by ``c x^T g`` and its last row by ``c`` times the
column sums of ``g``. The forward pass is one ``addmm`` (``addmv`` for a weight
vector, as the row variances of a diagonal matrix normal are). With
``square_weight=True`` the op takes the weights' elementwise squares (the variances,
given standard deviations) and its backward turns their gradient into the standard
deviations' in place, where ``pow``'s backward would make three more passes.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


class _BiasRowAffine(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, scale, square_weight):
        rows = x.reshape(-1, x.shape[-1])
        used = weight * weight if square_weight else weight
        product = torch.addmm if weight.dim() == 2 else torch.addmv
        out = product(used[-1], rows, used[:-1], beta=scale, alpha=scale)
        ctx.save_for_backward(rows, weight)
        ctx.scale = scale
        ctx.square_weight = square_weight
        ctx.input_shape = x.shape
        return out.reshape(x.shape[:-1] + weight.shape[1:])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        rows, weight = ctx.saved_tensors
        vector = weight.dim() == 1
        grad = grad.reshape(-1) if vector else grad.reshape(-1, grad.shape[-1])
        if ctx.scale != 1.0:
            grad = grad * ctx.scale
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            used = weight * weight if ctx.square_weight else weight
            grad_x = torch.outer(grad, used[:-1]) if vector else grad @ used[:-1].mT
            grad_x = grad_x.reshape(ctx.input_shape)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.empty_like(weight, memory_format=torch.contiguous_format)
            (torch.mv if vector else torch.mm)(rows.mT, grad, out=grad_weight[:-1])
            torch.sum(grad, 0, out=grad_weight[-1])
            if ctx.square_weight:  # d(w^2)/dw = 2 w
                grad_weight.mul_(weight).mul_(2)
        return grad_x, grad_weight, None, None


def bias_row_affine(
    x: torch.Tensor, weight: torch.Tensor, scale: float = 1.0, square_weight: bool = False
) -> torch.Tensor:
    """
    ``scale * (x @ w[:-1] + w[-1])`` with ``w = weight``, or ``w = weight ** 2`` with
    ``square_weight``: the pre-activations of a dense layer whose weight matrix
    carries the bias as its last row (or their variances, given standard deviations).

    :param torch.Tensor x: inputs, shape ``(..., d)``.
    :param torch.Tensor weight: one weight matrix, shape ``(d + 1, p)``, or one weight
        vector, shape ``(d + 1,)``.
    :param float scale: ``c``.
    :param bool square_weight: use the elementwise squares of ``weight``.
    :returns: shape ``(..., p)``, or ``(...)`` for a weight vector.
    """
    return _BiasRowAffine.apply(x, weight, float(scale), bool(square_weight))
