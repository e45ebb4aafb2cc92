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
"""

from __future__ import annotations

from pyro.distributions.util import broadcast_shape
from torch.distributions import Independent, Normal, register_kl

from .kronecker_factor import kronecker_inv_quad
from .matrix_normal import MatrixNormal


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
    ``n p`` times the ranks (see ``KroneckerFactor.trace_inv_mul``).
    """
    _check_event_shapes(p, q)
    n, m = p.event_shape
    trace = q.row_factor.trace_inv_mul(p.row_factor) * q.column_factor.trace_inv_mul(
        p.column_factor
    )
    quad = kronecker_inv_quad(q.row_factor, q.column_factor, q.loc - p.loc)
    log_det = q._log_det_covariance() - p._log_det_covariance()
    kl = 0.5 * (trace + quad - n * m + log_det)
    return kl.expand(broadcast_shape(p.batch_shape, q.batch_shape))


def _independent_normal(q):
    """``(base, ndims)`` with nested :class:`Independent` wrappers peeled off."""
    ndims = 0
    while isinstance(q, Independent):
        ndims += q.reinterpreted_batch_ndims
        q = q.base_dist
    return q, ndims


@register_kl(MatrixNormal, Independent)
def _kl_matrix_normal_independent_normal(p, q):
    r"""``KL(MN(M, U, V) || prod_ij N(mu_ij, s_ij^2))``::

        1/2 [ sum_ij (U_ii V_jj + (M_ij - mu_ij)^2) / s_ij^2 - n p
              + 2 sum_ij log s_ij - n log|V| - p log|U| ]

    ``O(np)`` plus the diagonals of ``U`` and ``V``.
    """
    base, ndims = _independent_normal(q)
    if not isinstance(base, Normal) or ndims != 2 or q.event_shape != p.event_shape:
        raise NotImplementedError
    n, m = p.event_shape
    var_ratio = p.variance / base.scale.pow(2)
    mean_term = ((p.loc - base.loc) / base.scale).pow(2)
    kl = 0.5 * (
        (var_ratio + mean_term).sum((-2, -1))
        - n * m
        + 2 * base.scale.log().sum((-2, -1))
        - p._log_det_covariance()
    )
    return kl.expand(broadcast_shape(p.batch_shape, q.batch_shape))
