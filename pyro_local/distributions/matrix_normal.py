"""The matrix normal distribution with structured row and column covariances."""

from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution
from pyro.distributions.util import broadcast_shape
from torch.distributions import constraints

from .factor_structures import DenseFactor, DiagonalFactor, LowRankFactor
from .kronecker_factor import KroneckerFactor, kronecker_inv_quad


class MatrixNormal(TorchDistribution):
    r"""Matrix normal distribution over ``n x p`` real matrices.

    ``W ~ MN(M, U, V)`` means ``vec(W) ~ N(vec(M), V kron U)`` (``vec`` stacks
    columns): ``U`` is the ``n x n`` covariance between rows and ``V`` the ``p x p``
    covariance between columns, so ``Cov(W_ij, W_kl) = U_ik V_jl``. The density is::

        log p(W) = -1/2 [ n p log(2 pi) + n log|V| + p log|U|
                          + tr(V^{-1} (W - M)^T U^{-1} (W - M)) ]

    and ``W = M + L_r E L_c^T`` with ``E`` standard normal, ``U = L_r L_r^T`` and
    ``V = L_c L_c^T``. No operation forms the ``np x np`` covariance: with dense
    Cholesky factors ``log_prob`` costs ``O(n^3 + p^3 + n p (n + p))`` through two
    triangular solves.

    The constructor takes dense lower Cholesky factors, with the argument names of
    NumPyro's ``MatrixNormal``. For large layers use the cheaper structures:
    :meth:`diagonal` (``O(np)`` everything, the choice of Louizos & Welling 2016),
    :meth:`low_rank` (low-rank plus diagonal, ``O(npk)``), or mix structures with
    :meth:`from_factors`. The row and column covariances are held as
    :class:`~pyro_local.distributions.kronecker_factor.KroneckerFactor` objects,
    available as :attr:`row_factor` and :attr:`column_factor`.

    Batch shapes of ``loc`` and of the two factors broadcast; the event shape is
    ``(n, p)``.

    Example::

        >>> n, p = 3, 2
        >>> d = MatrixNormal(torch.zeros(n, p), torch.eye(n), 2 * torch.eye(p))
        >>> w = d.rsample((5,))
        >>> w.shape, d.log_prob(w).shape
        (torch.Size([5, 3, 2]), torch.Size([5]))

    :param torch.Tensor loc: mean ``M``, shape ``batch_shape + (n, p)``.
    :param torch.Tensor scale_tril_row: lower Cholesky factor ``L_r`` of ``U`` with
        positive diagonal, shape ``batch_shape + (n, n)``.
    :param torch.Tensor scale_tril_column: lower Cholesky factor ``L_c`` of ``V``
        with positive diagonal, shape ``batch_shape + (p, p)``.
    :param bool validate_args: check arguments and samples (default: Pyro's global
        validation setting).
    """

    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(self, loc, scale_tril_row, scale_tril_column, validate_args=None):
        row = DenseFactor(scale_tril_row, side="row")
        column = DenseFactor(scale_tril_column, side="column")
        self._setup(loc, row, column, validate_args)

    @classmethod
    def diagonal(cls, loc, row_scale, column_scale, validate_args=None):
        """A matrix normal with ``U = diag(row_scale^2)`` and ``V = diag(column_scale^2)``.

        Every operation (``log_prob``, ``rsample``, KL) costs ``O(np)``.

        :param torch.Tensor loc: mean, shape ``batch_shape + (n, p)``.
        :param torch.Tensor row_scale: positive, shape ``batch_shape + (n,)``.
        :param torch.Tensor column_scale: positive, shape ``batch_shape + (p,)``.
        :param bool validate_args: check arguments and samples.
        """
        row = DiagonalFactor(row_scale, side="row")
        column = DiagonalFactor(column_scale, side="column")
        return cls._from_parts(loc, row, column, validate_args)

    @classmethod
    def low_rank(
        cls,
        loc,
        row_cov_factor,
        row_cov_diag,
        column_cov_factor,
        column_cov_diag,
        validate_args=None,
    ):
        """A matrix normal with low-rank-plus-diagonal ``U`` and ``V``.

        ``U = W_r W_r^T + diag(row_cov_diag)`` and ``V = W_c W_c^T +
        diag(column_cov_diag)``, names as in
        :class:`torch.distributions.LowRankMultivariateNormal`. With ranks ``k_r`` and
        ``k_c``, ``log_prob`` costs ``O(np (k_r + k_c) + n k_r^2 + p k_c^2)`` (Woodbury
        identity and matrix determinant lemma) and ``rsample`` draws ``(n + k_r) x
        (p + k_c)`` standard normals mapped through the augmented roots
        ``[D^{1/2}, W]``.

        :param torch.Tensor loc: mean, shape ``batch_shape + (n, p)``.
        :param torch.Tensor row_cov_factor: shape ``batch_shape + (n, k_r)``.
        :param torch.Tensor row_cov_diag: positive, shape ``batch_shape + (n,)``.
        :param torch.Tensor column_cov_factor: shape ``batch_shape + (p, k_c)``.
        :param torch.Tensor column_cov_diag: positive, shape ``batch_shape + (p,)``.
        :param bool validate_args: check arguments and samples.
        """
        row = LowRankFactor(row_cov_factor, row_cov_diag, side="row")
        column = LowRankFactor(column_cov_factor, column_cov_diag, side="column")
        return cls._from_parts(loc, row, column, validate_args)

    @classmethod
    def from_factors(cls, loc, row_factor, column_factor, validate_args=None):
        """A matrix normal from any two structured factors, e.g. dense rows and
        diagonal columns.

        :param torch.Tensor loc: mean, shape ``batch_shape + (n, p)``.
        :param KroneckerFactor row_factor: ``U``, of dimension ``n``.
        :param KroneckerFactor column_factor: ``V``, of dimension ``p``.
        :param bool validate_args: check arguments and samples.
        """
        return cls._from_parts(loc, row_factor, column_factor, validate_args)

    @classmethod
    def _from_parts(cls, loc, row, column, validate_args):
        new = cls.__new__(cls)
        new._setup(loc, row, column, validate_args)
        return new

    def _setup(self, loc, row, column, validate_args):
        if not isinstance(loc, torch.Tensor):
            raise TypeError(f"loc: expected a torch.Tensor, got {type(loc).__name__}")
        if not loc.is_floating_point():
            raise TypeError(f"loc: expected a floating-point tensor, got dtype {loc.dtype}")
        if loc.dim() < 2:
            raise ValueError(f"loc: expected shape (..., n, p), got {tuple(loc.shape)}")
        n, p = loc.shape[-2:]
        for side, factor, size in (("row", row, n), ("column", column, p)):
            if not isinstance(factor, KroneckerFactor):
                raise TypeError(
                    f"{side}_factor: expected a KroneckerFactor, got {type(factor).__name__}"
                )
            name = factor.param_names(side)[0]
            if factor.dim != size:
                raise ValueError(
                    f"{name}: expected {side} dimension {size} to match loc of shape "
                    f"{tuple(loc.shape)}, got {factor.dim}"
                )
            for value in factor.params:
                if value.dtype != loc.dtype or value.device != loc.device:
                    raise TypeError(
                        f"{name}: expected dtype {loc.dtype} on {loc.device} as loc, "
                        f"got {value.dtype} on {value.device}"
                    )
        try:
            batch_shape = torch.Size(
                broadcast_shape(loc.shape[:-2], row.batch_shape, column.batch_shape)
            )
        except ValueError as e:
            raise ValueError(
                f"expected broadcastable batch shapes, got loc {tuple(loc.shape[:-2])}, "
                f"row factor {tuple(row.batch_shape)}, column factor "
                f"{tuple(column.batch_shape)}"
            ) from e
        validate = self._validate_args if validate_args is None else validate_args
        if validate:
            row.check_values("row")
            column.check_values("column")
        event_shape = loc.shape[-2:]
        # No expand when loc has the full shape: it would add a node to every graph.
        shape = batch_shape + event_shape
        self.loc = loc if loc.shape == shape else loc.expand(shape)
        self._row = row
        self._column = column
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    @property
    def arg_constraints(self):
        return {
            "loc": constraints.independent(constraints.real, 2),
            **self._row.arg_constraints("row"),
            **self._column.arg_constraints("column"),
        }

    @classmethod
    def infer_shapes(cls, loc, scale_tril_row, scale_tril_column):
        batch_shape = broadcast_shape(loc[:-2], scale_tril_row[:-2], scale_tril_column[:-2])
        return batch_shape, tuple(loc[-2:])

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MatrixNormal, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new._row = self._row
        new._column = self._column
        super(MatrixNormal, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self):
        return (
            f"MatrixNormal(loc: {tuple(self.loc.shape)}, row: {self._row!r}, "
            f"column: {self._column!r})"
        )

    # Structure and parameters.

    @property
    def row_factor(self):
        """The row covariance ``U`` as a :class:`KroneckerFactor` (unbroadcasted)."""
        return self._row

    @property
    def column_factor(self):
        """The column covariance ``V`` as a :class:`KroneckerFactor` (unbroadcasted)."""
        return self._column

    def _factor_param(self, side, cls, index):
        factor = self._row if side == "row" else self._column
        name = cls._NAMES[side][index]
        if not isinstance(factor, cls):
            raise AttributeError(
                f"{name} is defined only for a {cls.__name__} {side} factor, this "
                f"distribution has {factor!r}; use {side}_covariance or {side}_factor"
            )
        value = factor.params[index]
        event_dim = cls._CONSTRAINTS[index].event_dim
        return value.expand(self.batch_shape + value.shape[value.dim() - event_dim :])

    @property
    def scale_tril_row(self):
        """``L_r`` of a dense row factor, expanded to ``batch_shape + (n, n)``."""
        return self._factor_param("row", DenseFactor, 0)

    @property
    def scale_tril_column(self):
        """``L_c`` of a dense column factor, expanded to ``batch_shape + (p, p)``."""
        return self._factor_param("column", DenseFactor, 0)

    @property
    def row_cov_factor(self):
        """``W_r`` of a low-rank row factor, expanded to ``batch_shape + (n, k_r)``."""
        return self._factor_param("row", LowRankFactor, 0)

    @property
    def row_cov_diag(self):
        """``D_r`` of a low-rank row factor, expanded to ``batch_shape + (n,)``."""
        return self._factor_param("row", LowRankFactor, 1)

    @property
    def column_cov_factor(self):
        """``W_c`` of a low-rank column factor, expanded to ``batch_shape + (p, k_c)``."""
        return self._factor_param("column", LowRankFactor, 0)

    @property
    def column_cov_diag(self):
        """``D_c`` of a low-rank column factor, expanded to ``batch_shape + (p,)``."""
        return self._factor_param("column", LowRankFactor, 1)

    @property
    def row_scale(self):
        """Row standard deviations ``sqrt(diag U)``, shape ``batch_shape + (n,)``.

        For :meth:`diagonal` distributions this is the ``row_scale`` argument.
        """
        return self._row.stddev().expand(self.batch_shape + self.event_shape[:1])

    @property
    def column_scale(self):
        """Column standard deviations ``sqrt(diag V)``, shape ``batch_shape + (p,)``.

        For :meth:`diagonal` distributions this is the ``column_scale`` argument.
        """
        return self._column.stddev().expand(self.batch_shape + self.event_shape[1:])

    @property
    def row_covariance(self):
        """``U`` as a dense ``batch_shape + (n, n)`` tensor (for small layers and tests)."""
        n = self.event_shape[0]
        return self._row.dense().expand(self.batch_shape + (n, n))

    @property
    def column_covariance(self):
        """``V`` as a dense ``batch_shape + (p, p)`` tensor (for small layers and tests)."""
        p = self.event_shape[1]
        return self._column.dense().expand(self.batch_shape + (p, p))

    @property
    def noise_shape(self):
        """Shape ``(r_n, r_p)`` of the standard normal noise ``E`` in
        ``W = M + S_r E S_c^T``: ``(n, p)`` for dense and diagonal factors, ``n + k``
        (or ``p + k``) on a low-rank side. :meth:`column_scale_matmul` takes noise with
        last dimension ``r_p``."""
        return torch.Size((self._row.root_dim, self._column.root_dim))

    # Moments and densities.

    @property
    def mean(self):
        return self.loc

    @property
    def variance(self):
        var = self._row.diagonal().unsqueeze(-1) * self._column.diagonal().unsqueeze(-2)
        return var.expand(self.batch_shape + self.event_shape)

    def _log_det_covariance(self):
        # log |V kron U| = n log|V| + p log|U|
        n, p = self.event_shape
        return n * self._column.log_det() + p * self._row.log_det()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n, p = self.event_shape
        quad = kronecker_inv_quad(self._row, self._column, value - self.loc)
        return -0.5 * (n * p * math.log(2 * math.pi) + self._log_det_covariance() + quad)

    def entropy(self):
        n, p = self.event_shape
        h = 0.5 * (n * p * (1 + math.log(2 * math.pi)) + self._log_det_covariance())
        return h.expand(self.batch_shape)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)[:-2] + self.noise_shape
        eps = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        # S_r E S_c^T, applying S_c to the rows of E^T.
        return self.loc + self._row.root_matmul(self._column.root_matmul(eps.mT).mT)

    # Local reparameterization.

    def row_quad_form(self, x):
        """``diag(x U x^T)``: the variance scale of each row of ``x W``.

        Costs ``O(N n^2)`` for a dense row factor, ``O(N n)`` for a diagonal one and
        ``O(N n k)`` for a low-rank one; ``U`` is never formed.

        :param torch.Tensor x: inputs, shape ``(..., N, n)`` with ``...``
            broadcastable with ``batch_shape``.
        :returns: shape ``broadcast(..., batch_shape) + (N,)``.
        """
        n = self.event_shape[0]
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[-1] != n:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x: expected a tensor of shape (..., N, {n}), got {shape}")
        q = self._row.quad_rows(x)
        return q.expand(broadcast_shape(q.shape[:-1], self.batch_shape) + q.shape[-1:])

    def column_scale_matmul(self, eps):
        """``eps S_c^T`` where ``V = S_c S_c^T`` (``S_c = L_c`` for a dense factor).

        With ``eps`` standard normal of shape ``(..., N, r_p)``, ``r_p =
        noise_shape[-1]`` (``p`` unless the column factor is low-rank), each row of
        the result is ``N(0, V)``. Together with :meth:`row_quad_form` this gives the
        local reparameterization of ``b = x W`` row by row, whose law is
        ``N(x M, (x U x^T) V)``::

            >>> d = MatrixNormal.diagonal(torch.zeros(4, 3), torch.ones(4), torch.ones(3))
            >>> x = torch.randn(10, 4)
            >>> eps = torch.randn(10, d.noise_shape[-1])
            >>> b = x @ d.loc + d.row_quad_form(x).sqrt()[..., None] * d.column_scale_matmul(eps)

        Costs ``O(N p^2)`` dense, ``O(N p)`` diagonal, ``O(N p k)`` low-rank.

        :param torch.Tensor eps: shape ``(..., N, r_p)``.
        :returns: shape ``(..., N, p)`` broadcast with ``batch_shape``.
        """
        r = self._column.root_dim
        if not isinstance(eps, torch.Tensor) or eps.dim() < 2 or eps.shape[-1] != r:
            shape = tuple(eps.shape) if isinstance(eps, torch.Tensor) else type(eps).__name__
            raise ValueError(
                f"eps: expected a tensor of shape (..., N, {r}) (noise_shape[-1]), got {shape}"
            )
        out = self._column.root_matmul(eps.mT).mT
        return out.expand(broadcast_shape(out.shape[:-2], self.batch_shape) + out.shape[-2:])
