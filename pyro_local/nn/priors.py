"""Priors over weight matrices, as small swappable objects.

A prior is called with the weight matrix's shape ``(n, p)`` (``n`` rows: the
inputs, plus the bias row) and a tensor whose dtype and device it should use, and
returns a distribution with event shape ``(n, p)``. Both priors here have
closed-form KLs with the matrix-normal and mean-field guides (registered in
:mod:`pyro_local.distributions`).

Scales are in the units of the weight site. The defaults, ``MN(0, I, I)`` (i.i.d.
``N(0, 1)`` entries), are broad priors for the layers' default standard
parametrization, where weights are of order ``1/sqrt(n)``: the KL then acts on the
means as a weak weight decay, ``1 / (2 N)`` per datum for ``N`` training points.
``"fan_in"`` (``1/sqrt(n)``, ``n`` rows) gives the prior of Louizos & Welling 2016,
``MN(0, I, I)`` on weights scaled by ``1/sqrt(n)``, expressed in these units (with
``input_scale="fan_in"`` layers the same prior is ``MatrixNormalPrior()``): a draw from
it is a well-scaled network, but on small data sets it regularises the means ``n``
times more strongly, which costs accuracy and calibration (docs/bayes.md).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import pyro.distributions as dist
import torch

from ..distributions import MatrixNormal

#: A prior scale that is ``1/sqrt(n)`` for a weight matrix with ``n`` rows.
FAN_IN = "fan_in"


def _scale(value, name):
    if value == FAN_IN:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}: expected a positive float or {FAN_IN!r}, got {value!r}")
    return float(value)


def _resolve(value, rows):
    return 1.0 / math.sqrt(rows) if value == FAN_IN else value


@dataclass(frozen=True)
class MatrixNormalPrior:
    """``MN(0, row_scale^2 I, column_scale^2 I)``, ``MN(0, I, I)`` by default; see the
    module docstring for the scales. As a distribution over entries it is
    i.i.d. ``N(0, (row_scale column_scale)^2)``; the two scales are kept apart so
    that the prior states the Kronecker structure it shares with a matrix-normal
    posterior: rows are inputs, columns outputs.

    :param row_scale: standard deviation factor of the rows (inputs): a positive
        float, or ``"fan_in"`` for ``1/sqrt(n)``.
    :param float column_scale: standard deviation factor of the columns (outputs).
    """

    row_scale: float | str = 1.0
    column_scale: float = 1.0

    def __post_init__(self):
        _scale(self.row_scale, "row_scale")
        if self.column_scale == FAN_IN:
            raise ValueError(f"column_scale: expected a positive float, got {FAN_IN!r}")
        _scale(self.column_scale, "column_scale")

    def __call__(self, shape, like):
        n, p = shape
        return _isotropic_matrix_normal(
            n, p, _resolve(self.row_scale, n), self.column_scale, like.dtype, like.device
        )


@functools.lru_cache(maxsize=256)
def _isotropic_matrix_normal(n, p, row_scale, column_scale, dtype, device):
    """``MN(0, row_scale^2 I, column_scale^2 I)``, built once per shape, scales, dtype and
    device (a layer asks for its prior on every step; the distribution is immutable and
    its tensors are expanded scalars). Its constants were checked by the prior, so it
    does not validate them again (that would scan a weight-sized expanded zero)."""
    zero = torch.zeros((), dtype=dtype, device=device)
    return MatrixNormal.diagonal(
        zero.expand(n, p),
        (zero + row_scale).expand(n),
        (zero + column_scale).expand(p),
        validate_args=False,
    )


@dataclass(frozen=True)
class NormalPrior:
    """I.i.d. ``N(0, scale^2)`` entries, as ``Normal(0, scale).expand([n, p]).to_event(2)``;
    ``N(0, 1)`` by default, the same distribution as the default :class:`MatrixNormalPrior`.

    :param scale: the entries' standard deviation: a positive float, or ``"fan_in"``
        for ``1/sqrt(n)``.
    """

    scale: float | str = 1.0

    def __post_init__(self):
        _scale(self.scale, "scale")

    def __call__(self, shape, like):
        zero = like.new_zeros(())
        scale = _resolve(self.scale, shape[0])
        return dist.Normal(zero, zero + scale).expand(list(shape)).to_event(len(shape))
