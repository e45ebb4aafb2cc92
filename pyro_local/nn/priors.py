"""Priors over weight matrices, as small swappable objects.

A prior is called with the weight matrix's shape ``(n, p)`` and a tensor whose
dtype and device it should use, and returns a distribution with event shape
``(n, p)``. Both priors here have closed-form KLs with the matrix-normal and
mean-field guides (registered in :mod:`pyro_local.distributions`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pyro.distributions as dist
import torch

from ..distributions import MatrixNormal


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}: expected a positive float, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class MatrixNormalPrior:
    """``MN(0, row_scale^2 I, column_scale^2 I)``; ``MN(0, I, I)`` by default (the
    prior of Louizos & Welling 2016 for classification). As a distribution over
    entries it is i.i.d. ``N(0, (row_scale column_scale)^2)``; the two scales are
    kept apart so that the prior states the Kronecker structure it shares with a
    matrix-normal posterior.

    :param float row_scale: standard deviation factor of the rows (inputs).
    :param float column_scale: standard deviation factor of the columns (outputs).
    """

    row_scale: float = 1.0
    column_scale: float = 1.0

    def __post_init__(self):
        _positive(self.row_scale, "row_scale")
        _positive(self.column_scale, "column_scale")

    def __call__(self, shape, like):
        n, p = shape
        return _isotropic_matrix_normal(
            n, p, self.row_scale, self.column_scale, like.dtype, like.device
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
    """I.i.d. ``N(0, scale^2)`` entries, as ``Normal(0, scale).expand([n, p]).to_event(2)``.

    :param float scale: the entries' standard deviation.
    """

    scale: float = 1.0

    def __post_init__(self):
        _positive(self.scale, "scale")

    def __call__(self, shape, like):
        zero = like.new_zeros(())
        return dist.Normal(zero, zero + self.scale).expand(list(shape)).to_event(len(shape))
