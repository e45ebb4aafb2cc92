"""Sampling pre-activations from their marginal instead of sampling the weights.

For a weight posterior ``W ~ MN(M, U, V)`` and input rows ``a_n`` (scaled, with
the bias coordinate), ``B = A W`` is matrix normal with row covariance ``A U A^T``;
keeping only each row's own variance (Louizos & Welling 2016, sec. 3)::

    b_n ~ N(a_n M, (a_n U a_n^T) V)

so a layer's pre-activations cost two products with the weight map (the mean with
``M``, the scale ``a U a^T = c^2 [a^2, 1] d + ||c [a, 1] R||^2`` from the split
``U = diag(d) + R R^T``) and one ``p``-dimensional noise per row, never a sample of
``W``. For a dense layer the per-example marginals are exact, so the ELBO's
expected log-likelihood is estimated without bias and with less variance. For a
convolution the rows are the patches of one image, which share ``W``; drawing them
independently keeps each location's marginal exact but drops the correlation
between locations of one image (as in Kingma et al. 2015's convolutional variant).

A mean-field posterior ``prod_ij N(mu_ij, s_ij^2)`` gives ``b_nj ~ N(a_n mu_j,
(a_n^2) s_j^2)``, the local reparameterization of Kingma et al. 2015.

:class:`PseudoData` (the paper's deep-GP view) conditions the pre-activations on
pseudo-rows ``X`` with pseudo-outputs ``Y``: ``B`` and ``X W`` are jointly matrix
normal with column covariance ``V``, so conditioning on ``X W = Y`` replaces ``M``
by ``M + U X^T S^{-1} (Y - X M)`` and ``U`` by ``U - U X^T S^{-1} X U``, with
``S = X U X^T``; both are again products with the weight map.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..distributions import DiagonalFactor, MatrixNormal
from ..distributions.util import mean_field_base
from .bias_row_affine import bias_row_affine
from .weight_maps import LinearMap


class PseudoData(NamedTuple):
    """Pseudo-rows and pseudo-outputs that a layer's pre-activations are conditioned on.

    :param torch.Tensor inputs: ``X``, shape ``(K, n)``: rows of the weight map,
        bias coordinate included, input scale already applied.
    :param torch.Tensor outputs: ``Y``, shape ``(K, p)``.
    :param float jitter: added to the diagonal of ``X U X^T``, relative to its mean
        diagonal, so that the Cholesky factorization exists.
    """

    inputs: torch.Tensor
    outputs: torch.Tensor
    jitter: float = 1e-4


def check_posterior(posterior, weight_shape):
    """Raise unless ``posterior`` is a distribution the local reparameterization
    handles: an unbatched :class:`MatrixNormal` or ``Normal(...).to_event(2)`` over
    ``weight_shape``."""
    supported = isinstance(posterior, MatrixNormal) or mean_field_base(posterior) is not None
    if not supported:
        raise TypeError(
            "local reparameterization needs a MatrixNormal or a Normal(...).to_event(2) "
            f"weight posterior, got {posterior!r}"
        )
    if posterior.batch_shape or posterior.event_shape != weight_shape:
        raise ValueError(
            f"local reparameterization needs an unbatched posterior over matrices of shape "
            f"{tuple(weight_shape)}, got batch shape {tuple(posterior.batch_shape)} and event "
            f"shape {tuple(posterior.event_shape)}"
        )


def _row_quad(weight_map, x, row_factor):
    """``c^2 [a, 1] U [a, 1]^T`` for every row ``a`` of ``x``."""
    d, root = row_factor.split()
    col = weight_map.column_dim
    quad = 0.0
    if d is not None:
        quad = weight_map.apply(x, d.unsqueeze(-1), square=True).squeeze(col)
    if root is not None:
        quad = quad + weight_map.apply(x, root).pow(2).sum(col)
    return quad


def _row_cov_matmul(row_factor, x):
    """``x U`` for ``x`` of shape ``(K, n)``, through the split ``U = diag(d) + R R^T``."""
    d, root = row_factor.split()
    out = 0.0
    if d is not None:
        out = x * d
    if root is not None:
        out = out + (x @ root) @ root.mT
    return out


def _condition(weight_map, x, posterior, pseudo):
    """Mean weight and variance-scale reduction after conditioning on ``pseudo``."""
    rows, outputs = pseudo.inputs, pseudo.outputs
    k = rows.shape[0]
    if rows.shape != (k, weight_map.rows) or outputs.shape != (k, weight_map.columns):
        raise ValueError(
            f"pseudo-data: expected inputs ({k}, {weight_map.rows}) and outputs "
            f"({k}, {weight_map.columns}), got {tuple(rows.shape)} and {tuple(outputs.shape)}"
        )
    xu = _row_cov_matmul(posterior.row_factor, rows)  # X U, (K, n)
    s11 = xu @ rows.mT
    eye = torch.eye(k, dtype=s11.dtype, device=s11.device)
    jitter = pseudo.jitter * s11.diagonal().mean().detach() + torch.finfo(s11.dtype).tiny
    tril = torch.linalg.cholesky(s11 + jitter * eye)
    # M + U X^T S^{-1} (Y - X M), and G = L^{-1} X U so that U' = U - G^T G.
    residual = torch.cholesky_solve(outputs - rows @ posterior.loc, tril)
    mean_weight = posterior.loc + xu.mT @ residual
    g = torch.linalg.solve_triangular(tril, xu, upper=False)
    reduction = weight_map.apply(x, g.mT).pow(2).sum(weight_map.column_dim)
    return mean_weight, reduction


def sample_preactivations(weight_map, x, posterior, pseudo=None):
    """Draw ``c [a, 1] W`` for every row ``a`` of ``x`` from its marginal under
    ``W ~ posterior``, without sampling ``W`` (reparameterized: differentiable in
    the posterior's parameters and in ``x``).

    :param WeightMap weight_map: the layer's geometry.
    :param torch.Tensor x: the layer's input.
    :param posterior: an unbatched :class:`MatrixNormal` (any factor structure) or
        ``Normal(loc, scale).to_event(2)`` over ``weight_map.weight_shape``.
    :param PseudoData pseudo: optional pseudo-data to condition on (MatrixNormal only).
    :returns: pre-activations of the shape ``weight_map.apply(x, W)`` has.
    """
    check_posterior(posterior, weight_map.weight_shape)
    if pseudo is None and _is_dense_bias_row(weight_map):
        fast = _dense_diagonal(weight_map, x, posterior)
        if fast is not None:
            return fast
    return _sample_structured(weight_map, x, posterior, pseudo)


def _is_dense_bias_row(weight_map):
    return isinstance(weight_map, LinearMap) and weight_map.bias_row


def _dense_diagonal(weight_map, x, posterior):
    """The common case directly: a dense layer with a bias row and a mean-field or
    diagonal matrix-normal posterior, in a few fused ops (the same draws, the same
    values as :func:`_sample_structured`); ``None`` for other posteriors."""
    c = weight_map.scale
    base = mean_field_base(posterior)
    if base is not None:
        mean = bias_row_affine(x, base.loc, c)
        var = bias_row_affine(x.pow(2), base.scale, c * c, square_weight=True)
        return torch.addcmul(mean, var.sqrt(), torch.randn_like(mean))
    row, column = posterior.row_factor, posterior.column_factor
    if not (isinstance(row, DiagonalFactor) and isinstance(column, DiagonalFactor)):
        return None
    quad = bias_row_affine(x.pow(2), row.scale, c * c, square_weight=True)  # c^2 [a^2, 1] diag(U)
    mean = bias_row_affine(x, posterior.loc, c)
    noise = torch.randn_like(mean) * column.scale
    return torch.addcmul(mean, quad.sqrt().unsqueeze(-1), noise)


def _sample_structured(weight_map, x, posterior, pseudo):
    """:func:`sample_preactivations` for any posterior, weight map and pseudo-data."""
    col = weight_map.column_dim
    base = mean_field_base(posterior)
    if base is not None:
        if pseudo is not None:
            raise ValueError(
                "pseudo-data need a MatrixNormal weight posterior, got a mean-field Normal"
            )
        mean = weight_map.apply(x, base.loc)
        var = weight_map.apply(x, base.scale.pow(2), square=True)
        return mean + var.sqrt() * torch.randn_like(mean)
    mean_weight = posterior.loc
    quad = _row_quad(weight_map, x, posterior.row_factor)
    if pseudo is not None:
        mean_weight, reduction = _condition(weight_map, x, posterior, pseudo)
        # The downdate is exact but may round below zero.
        quad = (quad - reduction).clamp_min(1e-12)
    mean = weight_map.apply(x, mean_weight)
    root_dim = posterior.noise_shape[-1]
    if root_dim == weight_map.columns:
        # Noise drawn in the output's layout: the same draws as the mean-field case.
        eps = torch.randn_like(mean).movedim(col, -1)
    else:
        eps = torch.randn(quad.shape + (root_dim,), dtype=mean.dtype, device=mean.device)
    noise = posterior.column_scale_matmul(eps).movedim(-1, col)
    return mean + quad.sqrt().unsqueeze(col) * noise


def preactivation_moments(weight_map, x, posterior, pseudo=None):
    """Mean and per-row column-covariance scale of the pre-activations under a
    :class:`MatrixNormal` posterior (conditioned on ``pseudo`` if given): ``(mean,
    quad)`` with ``b_n ~ N(mean_n, quad_n V)``. For tests and diagnostics."""
    check_posterior(posterior, weight_map.weight_shape)
    if not isinstance(posterior, MatrixNormal):
        raise TypeError(f"expected a MatrixNormal posterior, got {posterior!r}")
    quad = _row_quad(weight_map, x, posterior.row_factor)
    if pseudo is None:
        return weight_map.apply(x, posterior.loc), quad
    mean_weight, reduction = _condition(weight_map, x, posterior, pseudo)
    return weight_map.apply(x, mean_weight), quad - reduction
