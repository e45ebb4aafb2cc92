"""Generic-harness records for MatrixNormal: dense, diagonal and low-rank forms.

The reference log-density is the dense ``MultivariateNormal`` of ``vec(W)`` with
covariance ``V kron U``, built from the raw parameters.
"""

import math

import torch

from pyro_local.distributions import MatrixNormal

from .fixtures import Fixture
from .matrix_normal_reference import dense_covariance, dense_mvn, vec

_f64 = torch.float64


def _tensor(values):
    return torch.tensor(values, dtype=_f64)


def _reference(row_kind, row_names, column_kind, column_names):
    def ref_log_prob(params, value):
        row = dense_covariance(row_kind, [params[k] for k in row_names])
        column = dense_covariance(column_kind, [params[k] for k in column_names])
        return dense_mvn(params["loc"], row, column).log_prob(vec(value))

    return ref_log_prob


def _outside_support(d):
    return torch.full(d.batch_shape + d.event_shape, math.nan, dtype=_f64)


_LOC = _tensor([[0.5, -1.0, 0.0], [2.0, 0.3, -0.7]])
_TRIL_ROW = _tensor([[1.2, 0.0], [-0.4, 0.7]])
_TRIL_COLUMN = _tensor([[0.9, 0.0, 0.0], [0.3, 1.1, 0.0], [-0.2, 0.5, 0.6]])

DENSE = Fixture(
    name="MatrixNormal",
    dist_cls=MatrixNormal,
    params=[
        {"loc": _LOC, "scale_tril_row": _TRIL_ROW, "scale_tril_column": _TRIL_COLUMN},
        {  # batch shape (2,) from loc and the row factor; the column factor broadcasts
            "loc": torch.stack([_LOC, -_LOC]),
            "scale_tril_row": torch.stack([_TRIL_ROW, 2 * _TRIL_ROW]),
            "scale_tril_column": _TRIL_COLUMN,
        },
    ],
    ref_log_prob=_reference("dense", ["scale_tril_row"], "dense", ["scale_tril_column"]),
    invalid=[
        (
            {"loc": _LOC, "scale_tril_row": _TRIL_ROW.T, "scale_tril_column": _TRIL_COLUMN},
            "scale_tril_row",
        ),
        (
            {"loc": _LOC, "scale_tril_row": _TRIL_ROW, "scale_tril_column": -_TRIL_COLUMN},
            "scale_tril_column",
        ),
        (
            {"loc": _LOC, "scale_tril_row": _TRIL_COLUMN, "scale_tril_column": _TRIL_COLUMN},
            "scale_tril_row",
        ),
        (
            {"loc": _LOC[0], "scale_tril_row": _TRIL_ROW, "scale_tril_column": _TRIL_COLUMN},
            "loc",
        ),
    ],
    outside_support=_outside_support,
    grad_params=["loc", "scale_tril_row", "scale_tril_column"],
)

_ROW_SCALE = _tensor([0.8, 1.5])
_COLUMN_SCALE = _tensor([1.0, 0.4, 2.0])

DIAGONAL = Fixture(
    name="MatrixNormal.diagonal",
    dist_cls=MatrixNormal.diagonal,
    params=[
        {"loc": _LOC, "row_scale": _ROW_SCALE, "column_scale": _COLUMN_SCALE},
        {
            "loc": _LOC,
            "row_scale": torch.stack([_ROW_SCALE, _ROW_SCALE.flip(0)]),
            "column_scale": _COLUMN_SCALE,
        },
    ],
    ref_log_prob=_reference("diagonal", ["row_scale"], "diagonal", ["column_scale"]),
    invalid=[
        ({"loc": _LOC, "row_scale": -_ROW_SCALE, "column_scale": _COLUMN_SCALE}, "row_scale"),
        ({"loc": _LOC, "row_scale": _ROW_SCALE, "column_scale": _ROW_SCALE}, "column_scale"),
    ],
    outside_support=_outside_support,
    grad_params=["loc", "row_scale", "column_scale"],
)

_ROW_FACTOR = _tensor([[0.5], [-0.3]])
_ROW_DIAG = _tensor([0.6, 1.1])
_COLUMN_FACTOR = _tensor([[0.2, 0.7], [-0.5, 0.1], [0.4, 0.4]])
_COLUMN_DIAG = _tensor([0.9, 0.3, 1.4])
_LOW_RANK = {
    "loc": _LOC,
    "row_cov_factor": _ROW_FACTOR,
    "row_cov_diag": _ROW_DIAG,
    "column_cov_factor": _COLUMN_FACTOR,
    "column_cov_diag": _COLUMN_DIAG,
}

LOW_RANK = Fixture(
    name="MatrixNormal.low_rank",
    dist_cls=MatrixNormal.low_rank,
    params=[
        _LOW_RANK,
        dict(_LOW_RANK, column_cov_factor=torch.stack([_COLUMN_FACTOR, -2 * _COLUMN_FACTOR])),
    ],
    ref_log_prob=_reference(
        "low_rank",
        ["row_cov_factor", "row_cov_diag"],
        "low_rank",
        ["column_cov_factor", "column_cov_diag"],
    ),
    invalid=[
        (dict(_LOW_RANK, row_cov_diag=torch.zeros(2, dtype=_f64)), "row_cov_diag"),
        (dict(_LOW_RANK, column_cov_diag=_ROW_DIAG), "column_cov_diag"),
        (dict(_LOW_RANK, row_cov_factor=_COLUMN_FACTOR), "row_cov_factor"),
    ],
    outside_support=_outside_support,
    grad_params=["loc", "row_cov_factor", "row_cov_diag", "column_cov_factor", "column_cov_diag"],
)

MATRIX_NORMAL_FIXTURES = [DENSE, DIAGONAL, LOW_RANK]
