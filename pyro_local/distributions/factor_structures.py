"""Dense, diagonal and low-rank-plus-diagonal Kronecker factors.

A matrix normal ``MN(M, U, V)`` on ``n x p`` matrices has covariance ``V kron U``;
``U`` (``n x n``, between rows) and ``V`` (``p x p``, between columns) are its
*Kronecker factors*. Each class here holds one factor in a structured form and
implements the handful of operations :class:`~pyro_local.distributions.MatrixNormal`
and its KL divergences are built from, each at the cost its structure allows:

=======================  ==========================  ============  ==============
structure                parameters                  ``log |A|``   whiten n x m
=======================  ==========================  ============  ==============
:class:`DenseFactor`     ``scale_tril``              ``O(n)``      ``O(n^2 m)``
:class:`DiagonalFactor`  ``scale``                   ``O(n)``      ``O(n m)``
:class:`LowRankFactor`   ``cov_factor, cov_diag``    ``O(n k^2)``  ``O(n k m)``
=======================  ==========================  ============  ==============

Every factor ``A`` is written ``A = S S^T`` with a *square root* ``S`` of shape
``n x r``: ``r = n`` for the dense (``S = L``) and diagonal (``S = diag(scale)``)
forms, and ``r = n + k`` for the low-rank form ``A = D + W W^T``, whose root is the
augmented ``S = [D^{1/2}, W]``; sampling through ``S`` never needs a Cholesky
factor of ``A``.

Shape errors are raised when a factor is built; value checks (triangularity,
positivity) run in :meth:`KroneckerFactor.check_values`, which the distribution
calls only under validation.
"""

from __future__ import annotations

import torch
from pyro.distributions.util import broadcast_shape
from torch.distributions import constraints
from torch.distributions.utils import lazy_property

from .kronecker_factor import KroneckerFactor, check_tensor


class DenseFactor(KroneckerFactor):
    """A dense factor ``A = L L^T`` given by its lower Cholesky factor ``L``.

    :param torch.Tensor scale_tril: lower-triangular ``L`` with positive diagonal,
        shape ``batch_shape + (n, n)``.
    :param str side: ``"row"`` or ``"column"``, only to name arguments in errors.
    """

    _NAMES = {
        None: ("scale_tril",),
        "row": ("scale_tril_row",),
        "column": ("scale_tril_column",),
    }
    _CONSTRAINTS = (constraints.lower_cholesky,)

    def __init__(self, scale_tril, *, side=None):
        (name,) = self.param_names(side)
        check_tensor(scale_tril, name, 2, "(..., n, n)")
        if scale_tril.shape[-1] != scale_tril.shape[-2]:
            raise ValueError(
                f"{name}: expected square matrices of shape (..., n, n), "
                f"got {tuple(scale_tril.shape)}"
            )
        self.scale_tril = scale_tril

    def __repr__(self):
        return f"DenseFactor(dim={self.dim}, batch_shape={tuple(self.batch_shape)})"

    @property
    def params(self):
        return (self.scale_tril,)

    def check_values(self, side=None):
        (name,) = self.param_names(side)
        num_upper = int(torch.triu(self.scale_tril, 1).ne(0).sum())
        if num_upper:
            raise ValueError(
                f"{name}: expected lower-triangular matrices, got {num_upper} nonzero "
                "entries above the diagonal"
            )
        diag = self.scale_tril.diagonal(dim1=-2, dim2=-1)
        if not (diag > 0).all():
            raise ValueError(
                f"{name}: expected a positive diagonal, got minimum {diag.min().item():.4g}"
            )

    @property
    def dim(self):
        return self.scale_tril.shape[-1]

    @property
    def batch_shape(self):
        return self.scale_tril.shape[:-2]

    def log_det(self):
        return 2 * self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def diagonal(self):
        return self.scale_tril.pow(2).sum(-1)

    def dense(self):
        return self.scale_tril @ self.scale_tril.mT

    @lazy_property
    def _inv_scale_tril(self):
        eye = torch.eye(self.dim, dtype=self.scale_tril.dtype, device=self.scale_tril.device)
        return torch.linalg.solve_triangular(self.scale_tril, eye, upper=False)

    def inv_diagonal(self):
        # diag(L^-T L^-1): column sums of squares of L^-1; O(n^3), see trace_inv_mul.
        return self._inv_scale_tril.pow(2).sum(-2)

    def split(self):
        return None, self.scale_tril

    def whiten(self, x):
        tril = self.scale_tril
        if tril.dim() == 2 and x.dim() > 2:
            # One solve with the batch folded into columns, instead of broadcasting
            # L over the batch (about 30% faster for several samples of a layer).
            cols = x.movedim(-2, 0)
            y = torch.linalg.solve_triangular(tril, cols.reshape(self.dim, -1), upper=False)
            return [(1, y.reshape(cols.shape).movedim(0, -2))]
        return [(1, torch.linalg.solve_triangular(tril, x, upper=False))]

    def root_matmul(self, x):
        return self.scale_tril @ x

    def quad_rows(self, x):
        return (x @ self.scale_tril).pow(2).sum(-1)


class DiagonalFactor(KroneckerFactor):
    """A diagonal factor ``A = diag(scale^2)``; every operation is ``O(n m)``.

    :param torch.Tensor scale: positive standard deviations, shape ``batch_shape + (n,)``.
    :param str side: ``"row"`` or ``"column"``, only to name arguments in errors.
    """

    _NAMES = {None: ("scale",), "row": ("row_scale",), "column": ("column_scale",)}
    _CONSTRAINTS = (constraints.independent(constraints.positive, 1),)

    def __init__(self, scale, *, side=None):
        (name,) = self.param_names(side)
        check_tensor(scale, name, 1, "(..., n)")
        self.scale = scale

    def __repr__(self):
        return f"DiagonalFactor(dim={self.dim}, batch_shape={tuple(self.batch_shape)})"

    @property
    def params(self):
        return (self.scale,)

    def check_values(self, side=None):
        (name,) = self.param_names(side)
        if not (self.scale > 0).all():
            raise ValueError(
                f"{name}: expected positive values, got minimum {self.scale.min().item():.4g}"
            )

    @property
    def dim(self):
        return self.scale.shape[-1]

    @property
    def batch_shape(self):
        return self.scale.shape[:-1]

    def log_det(self):
        return 2 * self.scale.log().sum(-1)

    def diagonal(self):
        return self.scale.pow(2)

    def stddev(self):
        return self.scale

    def dense(self):
        return torch.diag_embed(self.scale.pow(2))

    def inv_diagonal(self):
        return self.scale.pow(-2)

    def split(self):
        return self.scale.pow(2), None

    def whiten(self, x):
        return [(1, x / self.scale.unsqueeze(-1))]

    def root_matmul(self, x):
        return self.scale.unsqueeze(-1) * x

    def quad_rows(self, x):
        return (x.pow(2) * self.scale.pow(2).unsqueeze(-2)).sum(-1)


class LowRankFactor(KroneckerFactor):
    """A low-rank-plus-diagonal factor ``A = W W^T + diag(cov_diag)``.

    Inverses and determinants go through the ``k x k`` capacitance matrix
    ``K = I + W^T D^{-1} W`` (Woodbury identity and matrix determinant lemma):
    ``O(n k^2)`` once per factor, then ``O(n k m)`` per whitening. Sampling uses the
    augmented root ``[D^{1/2}, W]`` of shape ``n x (n + k)``. Argument names follow
    :class:`torch.distributions.LowRankMultivariateNormal`.

    :param torch.Tensor cov_factor: ``W``, shape ``batch_shape + (n, k)``.
    :param torch.Tensor cov_diag: positive ``D``, shape ``batch_shape + (n,)``.
    :param str side: ``"row"`` or ``"column"``, only to name arguments in errors.
    """

    _NAMES = {
        None: ("cov_factor", "cov_diag"),
        "row": ("row_cov_factor", "row_cov_diag"),
        "column": ("column_cov_factor", "column_cov_diag"),
    }
    _CONSTRAINTS = (
        constraints.independent(constraints.real, 2),
        constraints.independent(constraints.positive, 1),
    )

    def __init__(self, cov_factor, cov_diag, *, side=None):
        factor_name, diag_name = self.param_names(side)
        check_tensor(cov_factor, factor_name, 2, "(..., n, k)")
        check_tensor(cov_diag, diag_name, 1, "(..., n)")
        if cov_factor.shape[-2] != cov_diag.shape[-1]:
            raise ValueError(
                f"{diag_name}: expected shape (..., {cov_factor.shape[-2]}) to match "
                f"{factor_name} of shape {tuple(cov_factor.shape)}, got {tuple(cov_diag.shape)}"
            )
        if cov_factor.dtype != cov_diag.dtype:
            raise TypeError(
                f"{diag_name}: expected dtype {cov_factor.dtype} as {factor_name}, "
                f"got {cov_diag.dtype}"
            )
        try:
            broadcast_shape(cov_factor.shape[:-2], cov_diag.shape[:-1])
        except ValueError as e:
            raise ValueError(
                f"{diag_name}: batch shape {tuple(cov_diag.shape[:-1])} does not broadcast "
                f"with {factor_name}'s {tuple(cov_factor.shape[:-2])}"
            ) from e
        self.cov_factor = cov_factor
        self.cov_diag = cov_diag

    def __repr__(self):
        return (
            f"LowRankFactor(dim={self.dim}, rank={self.rank}, "
            f"batch_shape={tuple(self.batch_shape)})"
        )

    @property
    def params(self):
        return (self.cov_factor, self.cov_diag)

    def check_values(self, side=None):
        factor_name, diag_name = self.param_names(side)
        if not torch.isfinite(self.cov_factor).all():
            raise ValueError(f"{factor_name}: expected finite values, got NaN or infinity")
        if not (self.cov_diag > 0).all():
            raise ValueError(
                f"{diag_name}: expected positive values, "
                f"got minimum {self.cov_diag.min().item():.4g}"
            )

    @property
    def dim(self):
        return self.cov_diag.shape[-1]

    @property
    def rank(self):
        """Number of columns ``k`` of ``cov_factor``."""
        return self.cov_factor.shape[-1]

    @property
    def root_dim(self):
        return self.dim + self.rank

    @property
    def batch_shape(self):
        return torch.Size(broadcast_shape(self.cov_factor.shape[:-2], self.cov_diag.shape[:-1]))

    @lazy_property
    def _scaled_factor(self):
        # B = D^-1/2 W, so that A = D^1/2 (I + B B^T) D^1/2.
        return self.cov_factor / self.cov_diag.sqrt().unsqueeze(-1)

    @lazy_property
    def _capacitance_tril(self):
        # Cholesky of K = I + B^T B = I + W^T D^-1 W (k x k).
        b = self._scaled_factor
        k = torch.eye(self.rank, dtype=b.dtype, device=b.device)
        return torch.linalg.cholesky(k + b.mT @ b)

    @lazy_property
    def _woodbury_root(self):
        # G = L_K^-1 W^T D^-1 (k x n), so that A^-1 = D^-1 - G^T G.
        scaled = self.cov_factor.mT / self.cov_diag.unsqueeze(-2)
        return torch.linalg.solve_triangular(self._capacitance_tril, scaled, upper=False)

    def log_det(self):
        capacitance = self._capacitance_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return self.cov_diag.log().sum(-1) + 2 * capacitance

    def diagonal(self):
        return self.cov_diag + self.cov_factor.pow(2).sum(-1)

    def dense(self):
        return self.cov_factor @ self.cov_factor.mT + torch.diag_embed(self.cov_diag)

    def inv_diagonal(self):
        return self.cov_diag.reciprocal() - self._woodbury_root.pow(2).sum(-2)

    def split(self):
        return self.cov_diag, self.cov_factor

    def whiten(self, x):
        # With y = D^-1/2 x and M = I + B B^T: x^T A^-1 x = y^T M^-1 y = u^T M u for
        # u = M^-1 y = y - B v, v = K^-1 B^T y; that is ||u||^2 + ||B^T u||^2, and
        # B^T u = v: a sum of squares. The Woodbury form ||y||^2 - ||L_K^-1 B^T y||^2
        # is a difference of two numbers of size ||y||^2 ~ 1 / D: in float32 with
        # D ~ 1e-6 it lost whole nats of log_prob.
        b = self._scaled_factor
        y = x / self.cov_diag.sqrt().unsqueeze(-1)
        v = torch.cholesky_solve(b.mT @ y, self._capacitance_tril)
        return [(1, y - b @ v), (1, v)]

    def root_matmul(self, x):
        n = self.dim
        return self.cov_diag.sqrt().unsqueeze(-1) * x[..., :n, :] + self.cov_factor @ x[..., n:, :]

    def quad_rows(self, x):
        diag_part = (x.pow(2) * self.cov_diag.unsqueeze(-2)).sum(-1)
        return diag_part + (x @ self.cov_factor).pow(2).sum(-1)
