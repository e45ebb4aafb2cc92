"""The dense layers' direct local reparameterization against the structured path:
the same draws, values and gradients, for mean-field and diagonal matrix-normal
posteriors; other posteriors and weight maps take the structured path."""

import pyro.distributions as dist
import pytest
import torch

from pyro_local.distributions import MatrixNormal
from pyro_local.nn.local_reparam import (
    _dense_diagonal,
    _sample_structured,
    sample_preactivations,
)
from pyro_local.nn.weight_maps import Conv2dMap, LinearMap


def _leaves(rows, columns, kind):
    g = torch.Generator().manual_seed(3)
    loc = torch.randn(rows, columns, generator=g, dtype=torch.float64).requires_grad_()
    if kind == "mean_field":
        scale = (0.1 + torch.rand(rows, columns, generator=g, dtype=torch.float64)).requires_grad_()
        return [loc, scale], lambda: dist.Normal(loc, scale).to_event(2)
    row = (0.1 + torch.rand(rows, generator=g, dtype=torch.float64)).requires_grad_()
    column = (0.1 + torch.rand(columns, generator=g, dtype=torch.float64)).requires_grad_()
    return [loc, row, column], lambda: MatrixNormal.diagonal(loc, row, column)


@pytest.mark.parametrize("kind", ["mean_field", "matrix_normal"])
@pytest.mark.parametrize("input_scale", ["fan_in", None])
@pytest.mark.parametrize("lead", [(), (3,)], ids=["rows", "batched-rows"])
def test_fast_path_equals_the_structured_path(kind, input_scale, lead):
    wmap = LinearMap(5, 4, bias_row=True, input_scale=input_scale)
    leaves, posterior = _leaves(6, 4, kind)
    x = torch.randn(*lead, 7, 5, dtype=torch.float64, requires_grad=True)
    outs = []
    for sample in (sample_preactivations, lambda m, x, q: _sample_structured(m, x, q, None)):
        torch.manual_seed(0)
        out = sample(wmap, x, posterior())
        g = torch.autograd.grad(out.pow(2).sum(), [x, *leaves])
        outs.append((out, g))
    (fast, g_fast), (general, g_general) = outs
    torch.testing.assert_close(fast, general, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_fast, g_general):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_other_posteriors_and_maps_take_the_structured_path():
    wmap = LinearMap(5, 4)
    low_rank = MatrixNormal.low_rank(
        torch.zeros(6, 4), torch.ones(6, 2), torch.ones(6), torch.ones(4, 1), torch.ones(4)
    )
    assert _dense_diagonal(wmap, torch.randn(3, 5), low_rank) is None
    conv = Conv2dMap(2, 3, 3)
    posterior = MatrixNormal.diagonal(torch.zeros(conv.weight_shape), torch.ones(19), torch.ones(3))
    torch.manual_seed(0)
    out = sample_preactivations(conv, torch.randn(2, 2, 5, 5), posterior)
    assert out.shape == (2, 3, 3, 3)
