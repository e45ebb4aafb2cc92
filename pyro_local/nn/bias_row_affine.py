"""``c [x, 1] W`` for a weight matrix whose last row is the bias, as one autograd op.

Written with slices, ``c (x @ W[:-1] + W[-1])``, the backward pass writes two
zero-filled gradients the size of ``W`` (one per slice) and adds them: three passes
over the weights for every product a Bayesian layer takes with its mean (and, for a
mean-field posterior, with its variances). Here the gradient of ``W`` is written
once, in place: its first rows by ``c x^T g`` and its last row by ``c`` times the
column sums of ``g``. The forward pass is one ``addmm`` (``addmv`` for a weight
vector, as the row variances of a diagonal matrix normal are).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


class _BiasRowAffine(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, scale):
        rows = x.reshape(-1, x.shape[-1])
        product = torch.addmm if weight.dim() == 2 else torch.addmv
        out = product(weight[-1], rows, weight[:-1], beta=scale, alpha=scale)
        ctx.save_for_backward(rows, weight)
        ctx.scale = scale
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
            grad_x = torch.outer(grad, weight[:-1]) if vector else grad @ weight[:-1].mT
            grad_x = grad_x.reshape(ctx.input_shape)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.empty_like(weight, memory_format=torch.contiguous_format)
            (torch.mv if vector else torch.mm)(rows.mT, grad, out=grad_weight[:-1])
            torch.sum(grad, 0, out=grad_weight[-1])
        return grad_x, grad_weight, None


def bias_row_affine(x: torch.Tensor, weight: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """
    ``scale * (x @ weight[:-1] + weight[-1])``: the pre-activations of a dense layer
    whose weight matrix carries the bias as its last row.

    :param torch.Tensor x: inputs, shape ``(..., d)``.
    :param torch.Tensor weight: one weight matrix, shape ``(d + 1, p)``, or one weight
        vector, shape ``(d + 1,)``.
    :param float scale: ``c``.
    :returns: shape ``(..., p)``, or ``(...)`` for a weight vector.
    """
    return _BiasRowAffine.apply(x, weight, float(scale))
