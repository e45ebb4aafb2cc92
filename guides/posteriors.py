"""Variational posteriors of one site, as small PyroModules owning their parameters.

Each module's ``distribution(validate_args=None)`` builds the site's guide
distribution from its parameters; the autoguides in :mod:`pyro_local.guides` hold one per site.

Initialisation (:class:`InitScales`) is relative to the weight's *unit* ``u``, the
scale of a well-initialised weight: ``1/sqrt(n)`` for a layer of ``n`` rows in the
standard parametrization, 1 in the paper's fan-in-scaled one (the layers give it,
:data:`~pyro_local.nn.deferred.WEIGHT_SCALE`), so that an initialisation means the same network
in either. By default (:data:`DEFAULT_INIT`) the mean starts as PyTorch initialises
``nn.Linear`` and ``nn.Conv2d`` (entries and bias ``U(-u, u)``) and every weight's
standard deviation at ``u / 10``: a well-scaled deterministic network with a little
noise. :data:`PAPER_INIT` is the initialisation of Louizos & Welling 2016 (official
code): ``M`` entries ``N(0, 4 / (n + p)) u^2`` (``n`` without the bias row; the bias
row 0), log row and column standard deviations ``N(log u, 0.01^2)`` and
``N(0, 0.01^2)``, the bias row's ``N(log u - 4, 0.01^2)``: with the paper's prior the
posterior starts at the prior's variances, and the paper trains it for 100 epochs.
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroParam
from torch.distributions import constraints

from pyro_local._checks import check_enum, check_int
from pyro_local.distributions import DenseFactor, DiagonalFactor, LowRankFactor, MatrixNormal
from pyro_local.nn.deferred import WEIGHT_SCALE


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
    return tuple(check_enum(Structure, s, "structure") for s in pair)


class InitScales(NamedTuple):
    """How a weight posterior starts, relative to the weight's unit ``u``: the scale of a
    well-initialised weight, ``1/sqrt(n)`` for a layer of ``n`` rows in the standard
    parametrization, 1 in the paper's fan-in-scaled one (the Bayesian layers give it).
    The default is PyTorch's initialisation of the means, every weight's standard
    deviation ``u / 10``; :data:`PAPER_INIT` is Louizos & Welling 2016's.

    Row standard deviations start at ``row * u`` (the bias row's at ``bias_row * u``)
    and column standard deviations at ``column``, so every weight's posterior standard
    deviation starts at ``row * column * u``: the fan-in lives in the row factor.

    :param float row: initial row standard deviations, in units of ``u``.
    :param float column: initial column standard deviations.
    :param float bias_row: initial standard deviation of the bias row, in units of ``u``.
    :param float log_jitter: standard deviation of the noise on the log scales
        (0.01 in the paper).
    :param float factor: low-rank factors start ``N(0, (factor * scale)^2)``; 0 is a
        stationary point of the ELBO in the factor, so it must be positive.
    :param str loc: how the mean starts: ``"torch"`` (``U(-u, u)``, PyTorch's default
        initialisation of ``nn.Linear`` and ``nn.Conv2d``, bias row included) or
        ``"paper"`` (``N(0, 4 / (n + p)) u^2``, the bias row 0).
    """

    row: float = 0.1
    column: float = 1.0
    bias_row: float = 0.1
    log_jitter: float = 0.01
    factor: float = 0.1
    loc: str = "torch"

    @classmethod
    def relative(cls, weight_scale: float, **kwargs) -> InitScales:
        """Every weight's posterior standard deviation starts at ``weight_scale * u``
        (``row = bias_row = weight_scale``, ``column = 1``).

        :param float weight_scale: the ratio, positive.
        :param kwargs: the other fields.
        """
        if isinstance(weight_scale, bool) or not weight_scale > 0:
            raise ValueError(f"weight_scale: expected a positive float, got {weight_scale!r}")
        return cls(row=weight_scale, column=1.0, bias_row=weight_scale, **kwargs)

    def check(self):
        if self.loc not in ("torch", "paper"):
            raise ValueError(f"init_scales.loc: expected 'torch' or 'paper', got {self.loc!r}")
        for name in ("row", "column", "bias_row", "factor"):
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"init_scales.{name}: expected a positive float, got {getattr(self, name)!r}"
                )
        return self


#: The default: PyTorch's initialisation of the means, every weight's std ``u / 10``.
DEFAULT_INIT = InitScales()
#: Louizos & Welling 2016's initialisation (official code): means ``N(0, 4 / (n + p)) u^2``
#: (the bias row 0), row and column standard deviations ``u`` and 1 (log-jittered by
#: 0.01), the bias row's ``exp(-4) u``: with the paper's prior the posterior starts at
#: the prior's variances.
PAPER_INIT = InitScales(row=1.0, column=1.0, bias_row=math.exp(-4.0), loc="paper")


def init_loc(rows, columns, bias_row, scales: InitScales, unit=1.0):
    """The initial mean ``M`` (see :class:`InitScales`), shape ``(n, p)``."""
    if scales.loc == "torch":
        return unit * (2 * torch.rand(rows, columns) - 1)
    fan_in = rows - int(bias_row)
    loc = torch.randn(rows, columns) * math.sqrt(4.0 / (fan_in + columns)) * unit
    if bias_row:
        loc[-1] = 0.0
    return loc


def init_to_pytorch(site=None):
    """A Pyro init strategy for any autoguide (``AutoDelta``, ``AutoNormal``): weight
    sites of :class:`~pyro_local.nn.BayesLinear` and
    :class:`~pyro_local.nn.BayesConv2d` start as PyTorch initialises ``nn.Linear`` and
    ``nn.Conv2d`` (``U(-u, u)``, the mean of the default :class:`InitScales`), other sites at
    their prior median (Pyro's ``init_to_median``).

    :param dict site: a Pyro sample site.
    """
    from pyro.infer.autoguide import init_to_median

    if site is None:
        return init_to_pytorch
    unit = site["infer"].get(WEIGHT_SCALE)
    if unit is None:
        return init_to_median(site)
    fn = site["fn"]
    zero = fn.mean.detach()
    return unit * (2 * torch.rand(fn.shape(), dtype=zero.dtype, device=zero.device) - 1)


def init_stddevs(rows, columns, bias_row, scales: InitScales, unit=1.0):
    """Initial row and column standard deviations, shapes ``(n,)`` and ``(p,)``."""
    log_row = torch.full((rows,), math.log(scales.row * unit))
    if bias_row:
        log_row[-1] = math.log(scales.bias_row * unit)
    log_column = torch.full((columns,), math.log(scales.column))
    row = (log_row + scales.log_jitter * torch.randn(rows)).exp()
    column = (log_column + scales.log_jitter * torch.randn(columns)).exp()
    return row, column


class _FactorParams(PyroModule):
    """Parameters of one Kronecker factor of the given structure."""

    def __init__(self, structure, stddev, rank, factor_scale):
        super().__init__()
        self.structure = structure
        if structure is Structure.DIAGONAL:
            self.scale = PyroParam(stddev, constraints.positive)
        elif structure is Structure.LOW_RANK:
            check_int(rank, "rank")
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


def _initial(rows, columns, bias_row, init_scales, loc, unit):
    """``(M, row stddevs, column stddevs)`` at initialisation."""
    init_scales.check()
    if loc is None:
        loc = init_loc(rows, columns, bias_row, init_scales, unit)
    row, column = init_stddevs(rows, columns, bias_row, init_scales, unit)
    return loc, row, column


class MatrixNormalPosterior(PyroModule):
    """``MN(M, U, V)`` over an ``n x p`` weight matrix with the chosen structures.

    :param int rows: ``n``.
    :param int columns: ``p``.
    :param bool bias_row: whether the last row is a bias (for the initialisation).
    :param structure: a :class:`Structure` (both factors) or a ``(row, column)`` pair.
    :param int rank: rank of low-rank factors.
    :param InitScales init_scales: the initialisation, in units of ``unit``.
    :param torch.Tensor loc: initial ``M`` (default :func:`init_loc`).
    :param float unit: the weight's unit ``u`` (see the module docstring).
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
        unit=1.0,
    ):
        super().__init__()
        row_structure, column_structure = structures(structure)
        loc, row_std, column_std = _initial(rows, columns, bias_row, init_scales, loc, unit)
        self.loc = torch.nn.Parameter(loc)
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
    :param InitScales init_scales: the initialisation, in units of ``unit``.
    :param torch.Tensor loc: initial mean (default :func:`init_loc`).
    :param float unit: the weight's unit ``u``.
    """

    def __init__(
        self, rows, columns, bias_row=False, init_scales=DEFAULT_INIT, loc=None, unit=1.0
    ):
        super().__init__()
        loc, row_std, column_std = _initial(rows, columns, bias_row, init_scales, loc, unit)
        self.loc = torch.nn.Parameter(loc)
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
