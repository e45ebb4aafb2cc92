"""``KL(MN(M_1, U_1, V_1) || MN(M_2, U_2, V_2))`` for diagonal factors, as one op.

A Bayesian layer's step takes this KL once per weight matrix; written with autograd it
is some twenty small ops and as many nodes of the backward graph, which for a dense
layer cost about as much as the few passes over the weights the formula needs. Here
the forward pass runs without a graph and the backward pass is the hand-derived
gradient (itself made of differentiable ops, so second derivatives work). With
``a = diag(U_1) / diag(U_2)``, ``b = diag(V_1) / diag(V_2)`` and ``D = M_1 - M_2``::

    KL = 1/2 [ sum(a) sum(b) + sum_ij D_ij^2 / (U_2,ii V_2,jj) - n p
               - p sum(log a) - n sum(log b) ]

(``n x p`` matrices). Unbatched distributions only; batched ones take the composed
formula (:func:`pyro_local.distributions.kl_matrix_normal._kl_diagonal_composed`).
"""

from __future__ import annotations

import torch

from .util import expanded_scalar


def _weights(row2, column2):
    """``1 / (U_2,ii V_2,jj)`` as ``(scalar, None, None)`` when both factors are one
    value expanded, else ``(None, 1 / U_2, 1 / V_2)``."""
    row0, column0 = expanded_scalar(row2, 1), expanded_scalar(column2, 1)
    if row0 is not None and column0 is not None:
        return (row0 * column0).square().reciprocal(), None, None
    return None, row2.pow(-2), column2.pow(-2)


def _quad(diff, weights):
    scalar, row_w, column_w = weights
    if scalar is not None:
        return (diff * diff).sum() * scalar
    return ((diff * diff) @ column_w) @ row_w


class _DiagonalKL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, loc1, row1, column1, loc2, row2, column2):
        ctx.save_for_backward(loc1, row1, column1, loc2, row2, column2)
        n, p = loc1.shape
        a, b = (row1 / row2).square(), (column1 / column2).square()
        quad = _quad(loc1 - loc2, _weights(row2, column2))
        log_det = p * a.log().sum() + n * b.log().sum()
        return 0.5 * (a.sum() * b.sum() + quad - n * p - log_det)

    @staticmethod
    def backward(ctx, grad):
        loc1, row1, column1, loc2, row2, column2 = ctx.saved_tensors
        need = ctx.needs_input_grad
        n, p = loc1.shape
        a, b = (row1 / row2).square(), (column1 / column2).square()
        sum_a, sum_b = a.sum(), b.sum()
        grads = [None] * 6
        if need[0] or need[3] or need[4] or need[5]:
            diff = loc1 - loc2
            scalar, row_w, column_w = _weights(row2, column2)
            if scalar is not None:
                g_loc = diff * (grad * scalar)
            else:
                g_loc = diff * (row_w.unsqueeze(-1) * (grad * column_w))
            grads[0] = g_loc if need[0] else None
            grads[3] = -g_loc if need[3] else None
        if need[1]:
            grads[1] = grad * (row1 * sum_b / row2.square() - p / row1)
        if need[2]:
            grads[2] = grad * (column1 * sum_a / column2.square() - n / column1)
        if need[4] or need[5]:
            diff2 = diff * diff
            if scalar is not None:
                row_w, column_w = row2.pow(-2), column2.pow(-2)
            if need[4]:
                by_row = diff2 @ column_w
                grads[4] = grad * (-a * sum_b / row2 - by_row * row_w / row2 + p / row2)
            if need[5]:
                by_column = row_w @ diff2
                grads[5] = grad * (
                    -b * sum_a / column2 - by_column * column_w / column2 + n / column2
                )
        return tuple(grads)


def kl_diagonal_matrix_normal(loc1, row1, column1, loc2, row2, column2) -> torch.Tensor:
    """The KL above, for unbatched ``(n, p)`` means and ``(n,)``, ``(p,)`` row and
    column standard deviations."""
    return _DiagonalKL.apply(loc1, row1, column1, loc2, row2, column2)
