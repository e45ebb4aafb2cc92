"""Closed-form KL divergences from a :class:`MatrixNormal`, registered with torch.

Registering through :func:`torch.distributions.register_kl` is what lets
:func:`torch.distributions.kl_divergence` and Pyro's ``TraceMeanField_ELBO`` use
them. Two priors are covered:

- another :class:`MatrixNormal`, with any mix of factor structures;
- a Normal with independent entries over the same ``n x p`` matrices, as Pyro
  writes it: ``dist.Normal(loc, scale).expand([n, p]).to_event(2)`` (per-entry
  ``loc`` and ``scale`` allowed).

For any other :class:`~torch.distributions.Independent` prior the function raises
:class:`NotImplementedError`, on which ``TraceMeanField_ELBO`` falls back to a Monte
Carlo estimate.

A training step of a Bayesian layer takes one of these KLs per weight matrix, so the
common cases have direct formulas (fast paths) whose only work the size of the weight
matrix is one difference and one sum of squares: diagonal factors on both sides
(:func:`_kl_diagonal`), and a prior whose factors or entries are one value expanded
(:func:`~pyro_local.distributions.util.expanded_scalar`), as the priors of
:mod:`pyro_local.nn.priors` are. The structured formulas
(:func:`_kl_structured`, :func:`_kl_structured_independent_normal`) serve every
other case, and the tests hold the fast paths to them.
"""

from __future__ import annotations

from pyro.distributions.util import broadcast_shape
from torch.distributions import Independent, Normal, register_kl

from .factor_structures import DiagonalFactor
from .kl_diagonal_matrix_normal import kl_diagonal_matrix_normal
from .kronecker_factor import kronecker_inv_quad
from .matrix_normal import MatrixNormal
from .util import expanded_scalar, mean_field_base, sum_squares


def _check_event_shapes(p, q):
    if p.event_shape != q.event_shape:
        raise ValueError(
            f"expected equal event shapes for KL(p || q), got p {tuple(p.event_shape)} "
            f"and q {tuple(q.event_shape)}"
        )


@register_kl(MatrixNormal, MatrixNormal)
def _kl_matrix_normal_matrix_normal(p, q):
    r"""``KL(MN(M_1, U_1, V_1) || MN(M_2, U_2, V_2))``::

        1/2 [ tr(V_2^{-1} V_1) tr(U_2^{-1} U_1)
              + tr(V_2^{-1} (M_2 - M_1)^T U_2^{-1} (M_2 - M_1)) - n p
              + n (log|V_2| - log|V_1|) + p (log|U_2| - log|U_1|) ]

    since the trace of a Kronecker product is the product of the traces. A dense
    row (column) factor of ``q`` costs ``O(n^3)`` (``O(p^3)``) for the trace term;
    with diagonal and low-rank factors on both sides the cost stays linear in
    ``n p`` times the ranks (see ``KroneckerFactor.trace_inv_mul``); diagonal
    factors on both sides take :func:`_kl_diagonal`.
    """
    _check_event_shapes(p, q)
    if is_diagonal(p) and is_diagonal(q):
        return _kl_diagonal(p, q)
    return _kl_structured(p, q)


def _kl_structured(p, q):
    """``KL(p || q)`` between matrix normals of any factor structures."""
    n, m = p.event_shape
    trace = q.row_factor.trace_inv_mul(p.row_factor) * q.column_factor.trace_inv_mul(
        p.column_factor
    )
    quad = kronecker_inv_quad(q.row_factor, q.column_factor, q.loc - p.loc)
    log_det = q._log_det_covariance() - p._log_det_covariance()
    kl = 0.5 * (trace + quad - n * m + log_det)
    return kl.expand(broadcast_shape(p.batch_shape, q.batch_shape))


def is_diagonal(d: MatrixNormal) -> bool:
    """Whether both Kronecker factors of ``d`` are diagonal."""
    return isinstance(d.row_factor, DiagonalFactor) and isinstance(d.column_factor, DiagonalFactor)


def weighted_sum_squares(x, row_scale, column_scale):
    """``sum_ij x_ij^2 / (row_scale_i column_scale_j)^2`` over the last two dimensions:
    ``vec(x)^T (V kron U)^{-1} vec(x)`` for diagonal ``U`` and ``V``. When both scales
    are one value expanded it is one sum of squares and a division."""
    row0, column0 = expanded_scalar(row_scale, 1), expanded_scalar(column_scale, 1)
    if row0 is not None and column0 is not None:
        return sum_squares(x) / (row0 * column0).square()
    # (x^2 V^-1 1) . diag(U^-1): a matrix-vector product instead of two whitenings.
    by_row = (x.square() @ column_scale.pow(-2).unsqueeze(-1)).squeeze(-1)
    return (by_row * row_scale.pow(-2)).sum(-1)


def _kl_diagonal(p, q):
    """``KL(p || q)`` for diagonal ``U`` and ``V`` on both sides: one op for unbatched
    distributions (:mod:`.kl_diagonal_matrix_normal`), else :func:`_kl_diagonal_composed`."""
    parts = (p.loc, p.row_factor.scale, p.column_factor.scale)
    parts += (q.loc, q.row_factor.scale, q.column_factor.scale)
    if not p.batch_shape and not q.batch_shape and all(x.dim() <= 2 for x in parts):
        return kl_diagonal_matrix_normal(*parts)
    return _kl_diagonal_composed(p, q)


def _kl_diagonal_composed(p, q):
    """The same with autograd, batched: with ``a = diag(U_1) / diag(U_2)`` and ``b =
    diag(V_1) / diag(V_2)``, ``tr(V_2^{-1} V_1) tr(U_2^{-1} U_1) = sum(a) sum(b)`` and
    the log-determinants are ``-m sum(log a) - n sum(log b)``."""
    n, m = p.event_shape
    row = (p.row_factor.scale / q.row_factor.scale).square()
    column = (p.column_factor.scale / q.column_factor.scale).square()
    trace = row.sum(-1) * column.sum(-1)
    log_det = -(m * row.log().sum(-1) + n * column.log().sum(-1))
    quad = weighted_sum_squares(q.loc - p.loc, q.row_factor.scale, q.column_factor.scale)
    kl = 0.5 * (trace + quad - n * m + log_det)
    return kl.expand(broadcast_shape(p.batch_shape, q.batch_shape))


@register_kl(MatrixNormal, Independent)
def _kl_matrix_normal_independent_normal(p, q):
    r"""``KL(MN(M, U, V) || prod_ij N(mu_ij, s_ij^2))``::

        1/2 [ sum_ij (U_ii V_jj + (M_ij - mu_ij)^2) / s_ij^2 - n p
              + 2 sum_ij log s_ij - n log|V| - p log|U| ]

    ``O(np)`` plus the diagonals of ``U`` and ``V``; with one ``mu`` and one ``s``
    expanded over the matrix (as ``NormalPrior`` builds it), one difference and one
    sum of squares.
    """
    base = mean_field_base(q)
    if base is None or q.event_shape != p.event_shape:
        raise NotImplementedError
    scale = expanded_scalar(base.scale, 2)
    if scale is None:
        return _kl_structured_independent_normal(p, base)
    n, m = p.event_shape
    trace = p.row_factor.diagonal().sum(-1) * p.column_factor.diagonal().sum(-1)
    quad = sum_squares(p.loc - base.loc)
    kl = 0.5 * (
        (trace + quad) / scale.square() - n * m + 2 * n * m * scale.log() - p._log_det_covariance()
    )
    return kl.expand(broadcast_shape(p.batch_shape, q.batch_shape))


def _kl_structured_independent_normal(p, base: Normal):
    """``KL(p || Normal(base.loc, base.scale).to_event(2))``, per-entry parameters."""
    n, m = p.event_shape
    var_ratio = p.variance / base.scale.pow(2)
    mean_term = ((p.loc - base.loc) / base.scale).pow(2)
    kl = 0.5 * (
        (var_ratio + mean_term).sum((-2, -1))
        - n * m
        + 2 * base.scale.log().sum((-2, -1))
        - p._log_det_covariance()
    )
    return kl.expand(broadcast_shape(p.batch_shape, base.batch_shape[:-2]))
