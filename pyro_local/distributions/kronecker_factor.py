"""The interface of the row and column covariances of a matrix normal.

A matrix normal ``MN(M, U, V)`` on ``n x p`` matrices has covariance ``V kron U``;
``U`` (``n x n``, between rows) and ``V`` (``p x p``, between columns) are its
*Kronecker factors*. :class:`KroneckerFactor` lists the few operations on one
factor that :class:`~pyro_local.distributions.MatrixNormal` and its KL divergences
are built from; the structures in :mod:`pyro_local.distributions.factor_structures`
implement them at the cost each allows. :func:`kronecker_inv_quad` combines a row
and a column factor into the Mahalanobis term of the density without forming
``V kron U``.

Every factor ``A`` is written ``A = S S^T`` with a *square root* ``S`` of shape
``n x r``; ``r = n`` except for low-rank factors, whose root is augmented.
"""

from __future__ import annotations

import torch

_SIDES = (None, "row", "column")


def check_tensor(value, name, min_dim, expected):
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {value.dtype}")
    if value.dim() < min_dim:
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(value.shape)}")


class KroneckerFactor:
    """Base class of the structured row/column covariances of a matrix normal.

    A factor stores its parameters unbroadcasted; its operations broadcast over
    the factor's own batch shape and the batch dimensions of their arguments.
    Subclasses name their parameters per side in ``_NAMES`` (keys ``None``,
    ``"row"``, ``"column"``) so that error messages use the argument names of the
    constructor the user called.
    """

    _NAMES: dict = {}
    _CONSTRAINTS: tuple = ()

    def param_names(self, side=None):
        """Names of :attr:`params` as arguments of the constructor for ``side``."""
        if side not in _SIDES:
            raise ValueError(f"side: expected one of {_SIDES}, got {side!r}")
        return self._NAMES[side]

    @property
    def params(self):
        """The parameter tensors, unbroadcasted, in the order of :meth:`param_names`."""
        raise NotImplementedError

    def arg_constraints(self, side=None):
        """The parameters' constraints keyed by their names for ``side``."""
        return dict(zip(self.param_names(side), self._CONSTRAINTS, strict=True))

    def check_values(self, side=None):
        """Raise :class:`ValueError` naming the argument if a parameter is invalid."""
        raise NotImplementedError

    @property
    def dim(self):
        """Size ``n`` of the (square) factor."""
        raise NotImplementedError

    @property
    def root_dim(self):
        """Number of columns ``r`` of the square root ``S`` (``A = S S^T``)."""
        return self.dim

    @property
    def batch_shape(self):
        raise NotImplementedError

    def log_det(self):
        """``log |A|``, of shape ``batch_shape``."""
        raise NotImplementedError

    def diagonal(self):
        """The diagonal of ``A``, of shape ``batch_shape + (n,)``."""
        raise NotImplementedError

    def stddev(self):
        """Square root of :meth:`diagonal`."""
        return self.diagonal().sqrt()

    def dense(self):
        """``A`` as a dense ``n x n`` matrix (for small factors and tests)."""
        raise NotImplementedError

    def inv_diagonal(self):
        """The diagonal of ``A^{-1}``."""
        raise NotImplementedError

    def split(self):
        """``(d, R)`` with ``A = diag(d) + R R^T``; either may be ``None`` (zero)."""
        raise NotImplementedError

    def whiten(self, x):
        """Terms ``[(sign, y), ...]`` with ``x^T A^{-1} x = sum sign * y^T y``.

        :param torch.Tensor x: shape ``(..., n, m)``.
        :returns: a list of ``(int, Tensor)`` pairs, each ``y`` of shape ``(..., r_i, m)``.
        """
        raise NotImplementedError

    def root_matmul(self, x):
        """``S x`` for ``x`` of shape ``(..., r, m)``, where ``r`` is :attr:`root_dim`."""
        raise NotImplementedError

    def quad_rows(self, x):
        """``diag(x A x^T)`` for ``x`` of shape ``(..., N, n)``; returns ``(..., N)``."""
        raise NotImplementedError

    def trace_inv_mul(self, other):
        """``tr(A^{-1} B)`` where ``A`` is this factor and ``B`` is ``other``.

        Splits ``B = diag(d) + R R^T`` and sums ``d . diag(A^{-1})`` and the
        whitened ``||A^{-1/2} R||_F^2``. A dense ``A`` costs ``O(n^3)`` (a
        triangular solve against ``L_B``, or the diagonal of ``A^{-1}``); a diagonal
        or low-rank ``A`` of rank ``k`` costs at most ``O(n^2 k)``, and only
        ``O(n k k_B)`` when ``B`` is diagonal or low-rank of rank ``k_B``.
        """
        d, root = other.split()
        total = 0.0
        if d is not None:
            total = total + (self.inv_diagonal() * d).sum(-1)
        if root is not None:
            total = total + _signed_sum_squares(self.whiten(root))
        return total


def _signed_sum_squares(terms):
    total = 0.0
    for sign, y in terms:
        sq = y.pow(2).sum((-2, -1))
        total = total + sq if sign > 0 else total - sq
    return total


def kronecker_inv_quad(row, column, x):
    """``vec(x)^T (V kron U)^{-1} vec(x) = tr(V^{-1} x^T U^{-1} x)``, never dense.

    :param KroneckerFactor row: the row factor ``U`` (``n x n``).
    :param KroneckerFactor column: the column factor ``V`` (``p x p``).
    :param torch.Tensor x: shape ``(..., n, p)``.
    :returns: shape ``(...)`` broadcast with both factors' batch shapes.
    """
    total = 0.0
    for row_sign, y in row.whiten(x):
        part = _signed_sum_squares(column.whiten(y.mT))
        total = total + part if row_sign > 0 else total - part
    return total
