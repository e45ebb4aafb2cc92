"""The KLs' fast paths against their structured formulas: values and gradients.

The fast paths (diagonal factors on both sides; priors whose scales are one value
expanded, as pyro_local.nn.priors builds them) must give what the structured formulas
give, to round-off, for every argument that carries a gradient.
"""

import pyro.distributions as dist
import pytest
import torch
from torch.distributions import kl_divergence

from pyro_local.distributions import MatrixNormal
from pyro_local.distributions.kl_diagonal_matrix_normal import kl_diagonal_matrix_normal
from pyro_local.distributions.kl_matrix_normal import (
    _kl_diagonal_composed,
    _kl_structured,
    _kl_structured_independent_normal,
    weighted_sum_squares,
)
from pyro_local.distributions.kl_normal_matrix_normal import _kl_structured_prior
from pyro_local.distributions.util import expanded_scalar, mean_field_base

N, P = 5, 3
F64 = torch.float64


def _leaf(*shape, low=None):
    value = torch.randn(*shape, dtype=F64) if low is None else low + torch.rand(*shape, dtype=F64)
    return value.requires_grad_()


def _scales(isotropic, batch=()):
    """Row and column scales: one value expanded (a prior's), or one per row/column."""
    if isotropic:
        row, column = _leaf(*batch, 1, low=0.5), _leaf(*batch, 1, low=0.5)
        return [row, column], (row.expand(*batch, N), column.expand(*batch, P))
    row, column = _leaf(*batch, N, low=0.5), _leaf(*batch, P, low=0.5)
    return [row, column], (row, column)


def _assert_same(fast, reference, leaves):
    torch.testing.assert_close(fast, reference, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(fast)
    grads = torch.autograd.grad((fast * weights).sum(), leaves, retain_graph=True)
    expected = torch.autograd.grad((reference * weights).sum(), leaves)
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)


def test_expanded_scalar_reads_strides_only():
    value = torch.tensor(2.0)
    assert expanded_scalar(value.expand(4, 3), 2) == 2.0
    assert expanded_scalar(torch.ones(2, 1).expand(2, 5), 1).shape == (2,)
    assert expanded_scalar(torch.ones(1), 1) == 1.0  # size 1: constant too
    assert expanded_scalar(torch.ones(3), 1) is None  # equal values, but not by construction
    assert expanded_scalar(torch.ones(3, 1).expand(3, 4), 2) is None
    assert expanded_scalar(torch.ones(3), 2) is None


@pytest.mark.parametrize("isotropic", [True, False], ids=["expanded", "per-row"])
def test_weighted_sum_squares(isotropic):
    x = torch.randn(2, N, P, dtype=F64)
    _, (row, column) = _scales(isotropic)
    expected = (x / row.unsqueeze(-1) / column).pow(2).sum((-2, -1))
    torch.testing.assert_close(weighted_sum_squares(x, row, column), expected)


@pytest.mark.parametrize("isotropic", [True, False], ids=["prior-expanded", "prior-per-row"])
@pytest.mark.parametrize("batch", [(), (2,)], ids=["unbatched", "batched"])
def test_diagonal_matrix_normals(isotropic, batch):
    loc = _leaf(*batch, N, P)
    row, column = _leaf(N, low=0.5), _leaf(P, low=0.5)
    prior_leaves, (prior_row, prior_column) = _scales(isotropic, batch)
    prior_loc = _leaf(N, P)
    q = MatrixNormal.diagonal(loc, row, column)
    p = MatrixNormal.diagonal(prior_loc, prior_row, prior_column)
    leaves = [loc, row, column, prior_loc, *prior_leaves]
    _assert_same(kl_divergence(q, p), _kl_structured(q, p), leaves)
    assert kl_divergence(q, p).shape == batch


@pytest.mark.parametrize("batch", [(), (2,)], ids=["unbatched", "batched"])
def test_matrix_normal_to_expanded_normal(batch):
    q = MatrixNormal.diagonal(_leaf(*batch, N, P), _leaf(N, low=0.5), _leaf(P, low=0.5))
    prior_loc, prior_scale = _leaf(*batch, 1, 1), _leaf(*batch, 1, 1, low=0.5)
    p = dist.Normal(prior_loc, prior_scale).expand([*batch, N, P]).to_event(2)
    assert expanded_scalar(mean_field_base(p).scale, 2) is not None
    leaves = [q.loc, q.row_factor.scale, q.column_factor.scale, prior_loc, prior_scale]
    reference = _kl_structured_independent_normal(q, mean_field_base(p))
    _assert_same(kl_divergence(q, p), reference, leaves)


@pytest.mark.parametrize("isotropic", [True, False], ids=["prior-expanded", "prior-per-row"])
@pytest.mark.parametrize("batch", [(), (2,)], ids=["unbatched", "batched"])
def test_mean_field_to_diagonal_matrix_normal(isotropic, batch):
    loc, scale = _leaf(*batch, N, P), _leaf(*batch, N, P, low=0.5)
    prior_leaves, (prior_row, prior_column) = _scales(isotropic)
    prior_loc = _leaf(N, P)
    q = dist.Normal(loc, scale).to_event(2)
    p = MatrixNormal.diagonal(prior_loc, prior_row, prior_column)
    leaves = [loc, scale, prior_loc, *prior_leaves]
    reference = _kl_structured_prior(mean_field_base(q), p)
    _assert_same(kl_divergence(q, p), reference, leaves)


def test_float32_fast_path_keeps_precision():
    """At a layer's size in float32 the fast path agrees with the float64 structured KL
    as closely as the structured float32 one does."""
    loc = torch.randn(785, 400) * 0.05
    row, column = 0.1 + torch.rand(785), 0.5 + torch.rand(400)
    zero = torch.zeros(())
    prior = MatrixNormal.diagonal(
        zero.expand(785, 400), (zero + 1).expand(785), (zero + 1).expand(400)
    )
    q = MatrixNormal.diagonal(loc, row, column)
    q64 = MatrixNormal.diagonal(loc.double(), row.double(), column.double())
    prior64 = MatrixNormal.diagonal(
        torch.zeros(785, 400, dtype=F64), torch.ones(785, dtype=F64), torch.ones(400, dtype=F64)
    )
    exact = _kl_structured(q64, prior64)
    fast_error = (kl_divergence(q, prior).double() - exact).abs()
    structured_error = (_kl_structured(q, prior).double() - exact).abs()
    assert fast_error <= max(2 * structured_error, 1e-6 * exact.abs())


@pytest.mark.parametrize("isotropic", [True, False], ids=["prior-expanded", "prior-per-row"])
def test_diagonal_op_equals_composed_and_has_second_derivatives(isotropic):
    loc, row, column = _leaf(N, P), _leaf(N, low=0.5), _leaf(P, low=0.5)
    prior_leaves, (prior_row, prior_column) = _scales(isotropic)
    prior_loc = _leaf(N, P)
    q = MatrixNormal.diagonal(loc, row, column)
    p = MatrixNormal.diagonal(prior_loc, prior_row, prior_column)
    leaves = [loc, row, column, prior_loc, *prior_leaves]
    _assert_same(kl_divergence(q, p), _kl_diagonal_composed(q, p), leaves)
    def kl(loc, row, column, prior_loc, prior_row, prior_column):
        # The prior's leaves may be one value each, expanded here (gradcheck needs
        # inputs without stride 0).
        prior_row, prior_column = prior_row.expand(N), prior_column.expand(P)
        return kl_diagonal_matrix_normal(loc, row, column, prior_loc, prior_row, prior_column)

    inputs = (loc, row, column, prior_loc, *prior_leaves)
    assert torch.autograd.gradcheck(kl, inputs)
    assert torch.autograd.gradgradcheck(kl, inputs)
