"""Variational posteriors of one site, as small PyroModules owning their parameters.

Each module's ``distribution(validate_args=None)`` builds the site's guide
distribution from its parameters; the autoguides in :mod:`pyro_local.guides` hold one per site.

Initialisation follows Louizos & Welling 2016 (official code): ``M`` entries
``N(0, 4 / (n + p))`` (``n`` without the bias row; the bias row 0), log row and
column standard deviations ``N(log s, 0.01^2)`` with ``s = 1``, except the bias
row's, ``N(-4, 0.01^2)``. With the prior ``MN(0, I, I)`` and inputs scaled by
``1/sqrt(n)`` the posterior thus starts with the prior's variances and a small
mean.
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroParam
from torch.distributions import constraints

from pyro_local.distributions import DenseFactor, DiagonalFactor, LowRankFactor, MatrixNormal


class Structure(str, enum.Enum):
    """Structure of a row or column covariance of a matrix-normal posterior."""

    #: one variance per row (column): the paper's choice, ``O(n)`` parameters.
    DIAGONAL = "diagonal"
    #: low rank plus diagonal, ``D + W W^T`` with ``rank`` columns in ``W``.
    LOW_RANK = "low_rank"
    #: a full Cholesky factor, ``O(n^2)`` parameters: for small layers.
    DENSE = "dense"


def structures(structure):
    """``(row, column)`` :class:`Structure` pair from one value or a pair."""
    pair = structure if isinstance(structure, (tuple, list)) else (structure, structure)
    if len(pair) != 2:
        raise ValueError(
            f"structure: expected one structure or a (row, column) pair, got {structure!r}"
        )
    try:
        return tuple(Structure(s) for s in pair)
    except ValueError:
        raise ValueError(
            f"structure: expected values in {[s.value for s in Structure]}, got {structure!r}"
        ) from None


class InitScales(NamedTuple):
    """Initial posterior standard deviations (see the module docstring).

    :param float row: initial row standard deviation ``s_r``.
    :param float column: initial column standard deviation ``s_c``.
    :param float bias_row: initial standard deviation of the bias row.
    :param float log_jitter: standard deviation of the noise on the log scales
        (0.01 in the paper).
    :param float factor: low-rank factors start ``N(0, (factor * scale)^2)``; 0 is a
        stationary point of the ELBO in the factor, so it must be positive.
    """

    row: float = 1.0
    column: float = 1.0
    bias_row: float = math.exp(-4.0)
    log_jitter: float = 0.01
    factor: float = 0.1


#: The paper's initialisation.
DEFAULT_INIT = InitScales()


def init_at_prior_draw(weight_std: float) -> dict:
    """
    Keyword arguments for :class:`~pyro_local.guides.AutoMatrixNormal` and
    :class:`~pyro_local.guides.AutoMeanFieldNormal` that start every weight posterior
    at one draw from the prior, with standard deviation ``weight_std`` per weight
    (``s_r = s_c = sqrt(weight_std)``; the bias row ``e^-2`` times that). The paper's
    initialisation (:data:`DEFAULT_INIT`) needs about 100 epochs; this one trains in
    tens.

    :param float weight_std: initial posterior standard deviation of a weight.
    :rtype: dict
    """
    if not weight_std > 0:
        raise ValueError(f"weight_std: expected a positive float, got {weight_std!r}")
    from pyro.infer.autoguide import init_to_sample

    root = math.sqrt(weight_std)
    return {
        "init_loc_fn": init_to_sample,
        "init_scales": InitScales(row=root, column=root, bias_row=root * math.exp(-2)),
    }


def _init_stddevs(size, scale, jitter, bias_scale=None):
    log_scale = torch.full((size,), math.log(scale))
    if bias_scale is not None:
        log_scale[-1] = math.log(bias_scale)
    return (log_scale + jitter * torch.randn(size)).exp()


def init_loc(rows, columns, bias_row):
    """``M`` entries ``N(0, 4 / (n + p))`` with ``n`` the rows without the bias row,
    which starts at 0."""
    fan_in = rows - int(bias_row)
    loc = torch.randn(rows, columns) * math.sqrt(4.0 / (fan_in + columns))
    if bias_row:
        loc[-1] = 0.0
    return loc


def init_stddevs(rows, columns, bias_row, scales: InitScales):
    """Initial row and column standard deviations, shapes ``(n,)`` and ``(p,)``."""
    row = _init_stddevs(rows, scales.row, scales.log_jitter, scales.bias_row if bias_row else None)
    column = _init_stddevs(columns, scales.column, scales.log_jitter)
    return row, column


class _FactorParams(PyroModule):
    """Parameters of one Kronecker factor of the given structure."""

    def __init__(self, structure, stddev, rank, factor_scale):
        super().__init__()
        self.structure = structure
        if structure is Structure.DIAGONAL:
            self.scale = PyroParam(stddev, constraints.positive)
        elif structure is Structure.LOW_RANK:
            if not isinstance(rank, int) or rank < 1:
                raise ValueError(f"rank: expected a positive int, got {rank!r}")
            factor = factor_scale * stddev.unsqueeze(-1) * torch.randn(stddev.shape[0], rank)
            self.cov_factor = torch.nn.Parameter(factor)
            self.cov_diag = PyroParam(stddev.pow(2), constraints.positive)
        else:
            self.scale_tril = PyroParam(torch.diag(stddev), constraints.lower_cholesky)

    def factor(self):
        if self.structure is Structure.DIAGONAL:
            return DiagonalFactor(self.scale)
        if self.structure is Structure.LOW_RANK:
            return LowRankFactor(self.cov_factor, self.cov_diag)
        return DenseFactor(self.scale_tril)


class MatrixNormalPosterior(PyroModule):
    """``MN(M, U, V)`` over an ``n x p`` weight matrix with the chosen structures.

    :param int rows: ``n``.
    :param int columns: ``p``.
    :param bool bias_row: whether the last row is a bias (for the initialisation).
    :param structure: a :class:`Structure` (both factors) or a ``(row, column)`` pair.
    :param int rank: rank of low-rank factors.
    :param InitScales init_scales: initial standard deviations.
    :param torch.Tensor loc: initial ``M`` (default :func:`init_loc`).
    """

    def __init__(
        self,
        rows,
        columns,
        bias_row=False,
        structure=Structure.DIAGONAL,
        rank=1,
        init_scales=DEFAULT_INIT,
        loc=None,
    ):
        super().__init__()
        row_structure, column_structure = structures(structure)
        self.loc = torch.nn.Parameter(init_loc(rows, columns, bias_row) if loc is None else loc)
        row_std, column_std = init_stddevs(rows, columns, bias_row, init_scales)
        self.row = _FactorParams(row_structure, row_std, rank, init_scales.factor)
        self.column = _FactorParams(column_structure, column_std, rank, init_scales.factor)

    def distribution(self, validate_args=None):
        return MatrixNormal.from_factors(
            self.loc, self.row.factor(), self.column.factor(), validate_args=validate_args
        )


class MeanFieldPosterior(PyroModule):
    """``prod_ij N(mu_ij, s_ij^2)`` over an ``n x p`` weight matrix, initialised as
    the diagonal :class:`MatrixNormalPosterior` (``s_ij = s_i s_j``), so that both
    families start from the same distribution.

    :param int rows: ``n``.
    :param int columns: ``p``.
    :param bool bias_row: whether the last row is a bias (for the initialisation).
    :param InitScales init_scales: initial standard deviations.
    :param torch.Tensor loc: initial mean (default :func:`init_loc`).
    """

    def __init__(self, rows, columns, bias_row=False, init_scales=DEFAULT_INIT, loc=None):
        super().__init__()
        self.loc = torch.nn.Parameter(init_loc(rows, columns, bias_row) if loc is None else loc)
        row_std, column_std = init_stddevs(rows, columns, bias_row, init_scales)
        self.scale = PyroParam(row_std.unsqueeze(-1) * column_std, constraints.positive)

    def distribution(self, validate_args=None):
        return dist.Normal(self.loc, self.scale, validate_args=validate_args).to_event(2)


class NormalPosterior(PyroModule):
    """``Normal(loc, scale).to_event(event_dim)`` for a real-valued site that is
    not a weight matrix (a separate bias, say).

    :param torch.Tensor loc: initial mean.
    :param float init_scale: initial standard deviation.
    :param int event_dim: the site's event dimension.
    """

    def __init__(self, loc, init_scale, event_dim):
        super().__init__()
        self.event_dim = event_dim
        self.loc = PyroParam(loc, constraints.real, event_dim)
        self.scale = PyroParam(torch.full_like(loc, init_scale), constraints.positive, event_dim)

    def distribution(self, validate_args=None):
        normal = dist.Normal(self.loc, self.scale, validate_args=validate_args)
        return normal.to_event(self.event_dim)
