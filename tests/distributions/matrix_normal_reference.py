"""Dense references for the matrix normal tests.

Every reference here is computed from the raw parameters with dense algebra: the
Kronecker covariance ``V kron U`` of ``vec(W)`` (columns stacked) is formed
explicitly and handed to :class:`torch.distributions.MultivariateNormal`, an
implementation independent of the structured code under test.
"""

import torch
from pyro.distributions.util import broadcast_shape
from torch.distributions import MultivariateNormal

from pyro_local.distributions import DenseFactor, DiagonalFactor, LowRankFactor, MatrixNormal

KINDS = ("dense", "diagonal", "low_rank")


def random_params(kind, dim, batch_shape=(), dtype=torch.float64, rank=2):
    """Random well-conditioned parameters of one factor, as a tuple of tensors."""
    batch_shape = tuple(batch_shape)
    if kind == "dense":
        tril = (0.3 * torch.randn(batch_shape + (dim, dim), dtype=dtype)).tril(-1)
        diag = 0.5 + torch.rand(batch_shape + (dim,), dtype=dtype)
        return (tril + torch.diag_embed(diag),)
    if kind == "diagonal":
        return (0.5 + torch.rand(batch_shape + (dim,), dtype=dtype),)
    if kind == "low_rank":
        cov_factor = 0.5 * torch.randn(batch_shape + (dim, rank), dtype=dtype)
        return cov_factor, 0.5 + torch.rand(batch_shape + (dim,), dtype=dtype)
    raise ValueError(f"unknown kind {kind!r}")


def make_factor(kind, params):
    return {"dense": DenseFactor, "diagonal": DiagonalFactor, "low_rank": LowRankFactor}[kind](
        *params
    )


def dense_covariance(kind, params):
    """The factor's covariance from its raw parameters, with plain dense algebra."""
    if kind == "dense":
        (tril,) = params
        return tril @ tril.transpose(-1, -2)
    if kind == "diagonal":
        (scale,) = params
        return torch.diag_embed(scale**2)
    cov_factor, cov_diag = params
    return cov_factor @ cov_factor.transpose(-1, -2) + torch.diag_embed(cov_diag)


def vec(x):
    """Stack the columns of the trailing ``n x p`` matrices."""
    return x.transpose(-1, -2).reshape(x.shape[:-2] + (-1,))


def kron(column_cov, row_cov):
    """Batched ``V kron U``: entry ``(j n + i, l n + k)`` is ``V_jl U_ik``."""
    p, n = column_cov.shape[-1], row_cov.shape[-1]
    batch = broadcast_shape(column_cov.shape[:-2], row_cov.shape[:-2])
    prod = column_cov[..., :, None, :, None] * row_cov[..., None, :, None, :]
    return prod.reshape(batch + (p * n, p * n))


def dense_mvn(loc, row_cov, column_cov):
    """``MultivariateNormal`` of ``vec(W)`` for ``W ~ MN(loc, row_cov, column_cov)``."""
    cov = kron(column_cov, row_cov)
    batch = broadcast_shape(loc.shape[:-2], cov.shape[:-2])
    return MultivariateNormal(vec(loc).expand(batch + cov.shape[-1:]), covariance_matrix=cov)


def random_matrix_normal(
    row_kind, column_kind, n, p, *, loc_batch=(), row_batch=(), column_batch=(), dtype=torch.float64
):
    """A random :class:`MatrixNormal` and its dense ``MultivariateNormal`` twin (float64)."""
    loc = torch.randn(tuple(loc_batch) + (n, p), dtype=dtype)
    row_params = random_params(row_kind, n, row_batch, dtype)
    column_params = random_params(column_kind, p, column_batch, dtype)
    d = MatrixNormal.from_factors(
        loc, make_factor(row_kind, row_params), make_factor(column_kind, column_params)
    )
    ref = dense_mvn(
        loc.double(),
        dense_covariance(row_kind, [t.double() for t in row_params]),
        dense_covariance(column_kind, [t.double() for t in column_params]),
    )
    return d, ref
