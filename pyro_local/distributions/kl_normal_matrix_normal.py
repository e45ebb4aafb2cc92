"""Closed-form KL from a mean-field Normal over matrices to a :class:`MatrixNormal`.

A mean-field weight posterior ``dist.Normal(loc, scale).to_event(2)`` trained
against a :class:`MatrixNormal` prior (``MN(0, I, I)``, the prior of Louizos &
Welling 2016) needs this direction of the KL to get a closed form in
:class:`~pyro_local.infer.LocalELBO` and Pyro's ``TraceMeanField_ELBO``; the other
direction lives in :mod:`pyro_local.distributions.kl_matrix_normal`. A prior with
diagonal factors (the priors of :mod:`pyro_local.nn.priors`) takes a direct formula
(:func:`_kl_diagonal_prior`); :func:`_kl_structured_prior` serves any other.
"""

from __future__ import annotations

from pyro.distributions.util import broadcast_shape
from torch.distributions import Independent, register_kl

from .kl_matrix_normal import is_diagonal, weighted_sum_squares
from .kronecker_factor import kronecker_inv_quad
from .matrix_normal import MatrixNormal
from .util import mean_field_base


@register_kl(Independent, MatrixNormal)
def _kl_independent_normal_matrix_normal(q, p):
    r"""``KL(prod_ij N(mu_ij, s_ij^2) || MN(M, U, V))``::

        1/2 [ sum_ij s_ij^2 (U^{-1})_ii (V^{-1})_jj
              + tr(V^{-1} (mu - M)^T U^{-1} (mu - M)) - n p
              + n log|V| + p log|U| - sum_ij log s_ij^2 ]

    because the diagonal of ``(V kron U)^{-1} = V^{-1} kron U^{-1}`` is the outer
    product of the factors' inverse diagonals. With diagonal or low-rank factors
    of ``p`` this costs ``O(np)`` times the ranks; dense factors add ``O(n^3 +
    p^3)``.
    """
    base = mean_field_base(q)
    if base is None or q.event_shape != p.event_shape:
        raise NotImplementedError
    kl = _kl_diagonal_prior(base, p) if is_diagonal(p) else _kl_structured_prior(base, p)
    return kl.expand(broadcast_shape(q.batch_shape, p.batch_shape))


def _kl_diagonal_prior(base, p):
    """Diagonal ``U`` and ``V``: the trace and the quadratic term are one weighted sum
    of squares, ``sum_ij (s_ij^2 + (mu - M)_ij^2) / (U_ii V_jj)``."""
    n, m = p.event_shape
    row, column = p.row_factor.scale, p.column_factor.scale
    weighted = weighted_sum_squares(base.scale, row, column) + weighted_sum_squares(
        base.loc - p.loc, row, column
    )
    log_det_q = 2 * base.scale.log().sum((-2, -1))
    return 0.5 * (weighted - n * m + p._log_det_covariance() - log_det_q)


def _kl_structured_prior(base, p):
    """Any factor structure of ``p``."""
    n, m = p.event_shape
    loc, scale = base.loc, base.scale
    inv_row = p.row_factor.inv_diagonal().unsqueeze(-1)
    inv_col = p.column_factor.inv_diagonal().unsqueeze(-2)
    trace = (scale.pow(2) * inv_row * inv_col).sum((-2, -1))
    quad = kronecker_inv_quad(p.row_factor, p.column_factor, loc - p.loc)
    log_det_q = 2 * scale.log().sum((-2, -1))
    return 0.5 * (trace + quad - n * m + p._log_det_covariance() - log_det_q)
