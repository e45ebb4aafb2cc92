"""Variational posteriors of one site, as small PyroModules owning their parameters.

Each module's ``distribution()`` builds the site's guide distribution from its
parameters; the autoguides in :mod:`pyro_local.guides` hold one per site.

Initialisation (:class:`InitScales`) is relative to the weight's prior, so that it
means the same in any parametrization. By default (:data:`DEFAULT_INIT`) the
posterior mean starts at one draw from the prior (with the layers' default prior,
``MN(0, I/n, I)``, LeCun's initialisation of a deterministic network) and every
weight's posterior standard deviation at a tenth of its prior's: the network starts
as a well-scaled deterministic one with little noise. :data:`PAPER_INIT` is the
initialisation of Louizos & Welling 2016 (official code): ``M`` entries
``N(0, 4 / (n + p))`` (``n`` without the bias row; the bias row 0), log row and
column standard deviations ``N(log 1, 0.01^2)``, the bias row's ``N(-4, 0.01^2)``,
all in units of the prior ``MN(0, I, I)`` on fan-in-scaled weights; the posterior
then starts at the prior's variances, and the paper trains it for 100 epochs.
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
    """How a weight posterior starts, relative to the weight's prior.

    Row and column standard deviations start at ``row`` and ``column`` times the
    prior's (the bias row's at ``bias_row`` times its prior's), so every weight's
    posterior standard deviation starts at ``row * column`` times its prior's
    (:meth:`relative` sets the three from that product). Use it with any prior and
    any ``input_scale``: the initial network is the same.

    :param float row: initial row standard deviations, relative to the prior's.
    :param float column: initial column standard deviations, relative to the prior's.
    :param float bias_row: initial standard deviation of the bias row, relative.
    :param float log_jitter: standard deviation of the noise on the log scales
        (0.01 in the paper).
    :param float factor: low-rank factors start ``N(0, (factor * scale)^2)``; 0 is a
        stationary point of the ELBO in the factor, so it must be positive.
    :param str loc: how the mean starts: ``"prior"`` (a draw from a Gaussian with
        the prior's row and column scales: a draw from the prior itself for
        :class:`~pyro_local.nn.MatrixNormalPrior` and
        :class:`~pyro_local.nn.NormalPrior`) or ``"paper"`` (``N(0, 4 / (n + p))``
        times the prior's scales, the bias row 0).
    """

    row: float = math.sqrt(0.1)
    column: float = math.sqrt(0.1)
    bias_row: float = math.sqrt(0.1)
    log_jitter: float = 0.01
    factor: float = 0.1
    loc: str = "prior"

    @classmethod
    def relative(cls, weight_scale: float, **kwargs) -> InitScales:
        """Every weight's posterior standard deviation starts at ``weight_scale``
        times its prior's (``row = column = bias_row = sqrt(weight_scale)``).

        :param float weight_scale: the ratio, positive.
        :param kwargs: the other fields.
        """
        if isinstance(weight_scale, bool) or not weight_scale > 0:
            raise ValueError(f"weight_scale: expected a positive float, got {weight_scale!r}")
        root = math.sqrt(weight_scale)
        return cls(row=root, column=root, bias_row=root, **kwargs)

    def check(self):
        if self.loc not in ("prior", "paper"):
            raise ValueError(f"init_scales.loc: expected 'prior' or 'paper', got {self.loc!r}")
        for name in ("row", "column", "bias_row", "factor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"init_scales.{name}: expected a positive float, "
                                 f"got {getattr(self, name)!r}")
        return self


#: The default: a prior draw, every weight's standard deviation a tenth of its prior's.
DEFAULT_INIT = InitScales()
#: Louizos & Welling 2016's initialisation (see the module docstring).
PAPER_INIT = InitScales(row=1.0, column=1.0, bias_row=math.exp(-4.0), loc="paper")


def prior_scales(prior, shape):
    """Row and column standard deviations ``(n,)``, ``(p,)`` of a weight prior, whose
    outer product is the prior's entrywise standard deviation wherever that has the
    product form (exactly for the priors of :mod:`pyro_local.nn.priors`); ones
    when the prior has no variance.

    :param prior: the weight site's prior distribution (event shape ``shape``).
    :param shape: ``(n, p)``.
    """
    def cpu(t):  # the posterior modules are built on the CPU, then moved
        return t.detach().to("cpu", torch.get_default_dtype())

    if isinstance(prior, MatrixNormal) and not prior.batch_shape:
        return cpu(prior.row_scale), cpu(prior.column_scale)
    try:
        var = cpu(prior.variance).expand(tuple(shape))
    except (NotImplementedError, RuntimeError):
        return torch.ones(shape[0]), torch.ones(shape[1])
    mean_row = var.mean(-1)
    return mean_row.sqrt(), (var.mean(-2) / mean_row.mean()).sqrt()


def init_loc(rows, columns, bias_row, scales: InitScales, prior_row=None, prior_column=None):
    """The initial mean ``M`` (see :class:`InitScales`), shape ``(n, p)``."""
    prior_row = torch.ones(rows) if prior_row is None else prior_row
    prior_column = torch.ones(columns) if prior_column is None else prior_column
    std = prior_row.unsqueeze(-1) * prior_column
    if scales.loc == "prior":
        return torch.randn(rows, columns) * std
    fan_in = rows - int(bias_row)
    loc = torch.randn(rows, columns) * math.sqrt(4.0 / (fan_in + columns)) * std
    if bias_row:
        loc[-1] = 0.0
    return loc


def init_stddevs(rows, columns, bias_row, scales: InitScales, prior_row=None, prior_column=None):
    """Initial row and column standard deviations, shapes ``(n,)`` and ``(p,)``."""
    log_row = torch.full((rows,), math.log(scales.row))
    if bias_row:
        log_row[-1] = math.log(scales.bias_row)
    log_column = torch.full((columns,), math.log(scales.column))
    row = (log_row + scales.log_jitter * torch.randn(rows)).exp()
    column = (log_column + scales.log_jitter * torch.randn(columns)).exp()
    if prior_row is not None:
        row = row * prior_row
    if prior_column is not None:
        column = column * prior_column
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


def _initial(rows, columns, bias_row, init_scales, loc, prior):
    """``(M, row stddevs, column stddevs)`` at initialisation."""
    init_scales.check()
    prior_row, prior_column = (None, None) if prior is None else prior
    if loc is None:
        loc = init_loc(rows, columns, bias_row, init_scales, prior_row, prior_column)
    row, column = init_stddevs(rows, columns, bias_row, init_scales, prior_row, prior_column)
    return loc, row, column


class MatrixNormalPosterior(PyroModule):
    """``MN(M, U, V)`` over an ``n x p`` weight matrix with the chosen structures.

    :param int rows: ``n``.
    :param int columns: ``p``.
    :param bool bias_row: whether the last row is a bias (for the initialisation).
    :param structure: a :class:`Structure` (both factors) or a ``(row, column)`` pair.
    :param int rank: rank of low-rank factors.
    :param InitScales init_scales: the initialisation, relative to the prior.
    :param torch.Tensor loc: initial ``M`` (default :func:`init_loc`).
    :param tuple prior_scales: the prior's row and column standard deviations
        (:func:`prior_scales`); default ones, ``MN(0, I, I)``.
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
        prior_scales=None,
    ):
        super().__init__()
        row_structure, column_structure = structures(structure)
        loc, row_std, column_std = _initial(
            rows, columns, bias_row, init_scales, loc, prior_scales
        )
        self.loc = torch.nn.Parameter(loc)
        self.row = _FactorParams(row_structure, row_std, rank, init_scales.factor)
        self.column = _FactorParams(column_structure, column_std, rank, init_scales.factor)

    def distribution(self):
        return MatrixNormal.from_factors(self.loc, self.row.factor(), self.column.factor())


class MeanFieldPosterior(PyroModule):
    """``prod_ij N(mu_ij, s_ij^2)`` over an ``n x p`` weight matrix, initialised as
    the diagonal :class:`MatrixNormalPosterior` (``s_ij = s_i s_j``), so that both
    families start from the same distribution.

    :param int rows: ``n``.
    :param int columns: ``p``.
    :param bool bias_row: whether the last row is a bias (for the initialisation).
    :param InitScales init_scales: the initialisation, relative to the prior.
    :param torch.Tensor loc: initial mean (default :func:`init_loc`).
    :param tuple prior_scales: as for :class:`MatrixNormalPosterior`.
    """

    def __init__(
        self, rows, columns, bias_row=False, init_scales=DEFAULT_INIT, loc=None, prior_scales=None
    ):
        super().__init__()
        loc, row_std, column_std = _initial(
            rows, columns, bias_row, init_scales, loc, prior_scales
        )
        self.loc = torch.nn.Parameter(loc)
        self.scale = PyroParam(row_std.unsqueeze(-1) * column_std, constraints.positive)

    def distribution(self):
        return dist.Normal(self.loc, self.scale).to_event(2)


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

    def distribution(self):
        return dist.Normal(self.loc, self.scale).to_event(self.event_dim)
