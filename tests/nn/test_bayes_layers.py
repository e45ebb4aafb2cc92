"""BayesLinear and BayesConv2d: layouts against torch's layers, bias modes, errors."""

import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine

from pyro_local.nn import BayesConv2d, BayesLinear, MatrixNormalPrior, NormalPrior
from pyro_local.nn.bayes_layers import align_to_plates


def test_linear_matches_torch_linear():
    layer = BayesLinear(4, 3, input_scale=None)
    w, b = torch.randn(3, 4), torch.randn(3)
    x = torch.randn(5, 4)
    weight = torch.cat([w.mT, b.unsqueeze(0)])  # rows: inputs, then the bias row
    out = poutine.condition(layer, data={"weight": weight})(x)
    torch.testing.assert_close(out, F.linear(x, w, b))


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv_matches_torch_conv(stride, padding, dilation):
    """The kernel (p, C, kh, kw) is the weight matrix's rows in unfold order."""
    layer = BayesConv2d(2, 3, (3, 2), stride, padding, dilation, input_scale=None)
    kernel, bias = torch.randn(3, 2, 3, 2), torch.randn(3)
    x = torch.randn(4, 2, 7, 6)
    weight = torch.cat([kernel.reshape(3, -1).mT, bias.unsqueeze(0)])
    out = poutine.condition(layer, data={"weight": weight})(x)
    torch.testing.assert_close(out, F.conv2d(x, kernel, bias, stride, padding, dilation))


def test_input_scale_and_bias_modes():
    x = torch.randn(5, 4)
    w = torch.randn(4, 3)
    plain = BayesLinear(4, 3, bias=None)  # the standard parametrization by default
    torch.testing.assert_close(poutine.condition(plain, data={"weight": w})(x), x @ w)
    scaled = BayesLinear(4, 3, bias=None, input_scale="fan_in")  # rows scaled by 1/sqrt(4)
    torch.testing.assert_close(poutine.condition(scaled, data={"weight": w})(x), x @ w / 2)
    site = BayesLinear(4, 3, bias="site", input_scale=None)
    b = torch.randn(3)
    out = poutine.condition(site, data={"weight": w, "bias": b})(x)
    torch.testing.assert_close(out, x @ w + b)
    trace = poutine.trace(site).get_trace(x)
    assert trace.nodes["weight"]["fn"].event_shape == (4, 3)
    assert trace.nodes["bias"]["fn"].event_shape == (3,)
    conv = BayesConv2d(1, 2, 2, bias="site", input_scale=None)
    kernel = torch.randn(4, 2)
    xi = torch.randn(3, 1, 3, 3)
    out = poutine.condition(conv, data={"weight": kernel, "bias": b[:2]})(xi)
    expected = F.conv2d(xi, kernel.mT.reshape(2, 1, 2, 2), b[:2])
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("prior", [MatrixNormalPrior(2.0, 0.5), NormalPrior(1.0)])
def test_priors(prior):
    layer = BayesLinear(4, 3, prior=prior)
    fn = poutine.trace(layer).get_trace(torch.randn(2, 4)).nodes["weight"]["fn"]
    assert fn.event_shape == (5, 3)
    torch.testing.assert_close(fn.variance, torch.ones(5, 3))


@pytest.mark.parametrize("prior", [None, MatrixNormalPrior(), NormalPrior()])
def test_default_prior_is_standard_normal(prior):
    kwargs = {} if prior is None else {"prior": prior}
    fn = poutine.trace(BayesLinear(6, 3, **kwargs)).get_trace(torch.randn(2, 6))
    torch.testing.assert_close(fn.nodes["weight"]["fn"].variance, torch.ones(7, 3))


@pytest.mark.parametrize("prior", [MatrixNormalPrior(row_scale="fan_in"), NormalPrior("fan_in")])
def test_fan_in_prior_is_the_papers_in_standard_units(prior):
    """``"fan_in"`` gives variance 1/n per weight (n rows, bias row included): the
    paper's MN(0, I, I) on weights scaled by 1/sqrt(n), so that a fan-in-scaled layer
    with MN(0, I, I) has the same prior over what the layer computes."""
    x = torch.randn(2, 6)
    fn = poutine.trace(BayesLinear(6, 3, prior=prior)).get_trace(x).nodes["weight"]["fn"]
    torch.testing.assert_close(fn.variance, torch.full((7, 3), 1 / 7))
    paper = BayesLinear(6, 3, input_scale="fan_in")
    fn_paper = poutine.trace(paper).get_trace(x).nodes["weight"]["fn"]
    scale = paper.weight_map.scale
    torch.testing.assert_close(scale**2 * fn_paper.variance, fn.variance)


def test_align_to_plates():
    w = torch.randn(3, 5, 4)
    with pyro.plate("samples", 3, dim=-2):
        torch.testing.assert_close(align_to_plates(w, 2), w.unsqueeze(1))
        assert align_to_plates(w.unsqueeze(1), 2).shape == (3, 1, 5, 4)
    assert align_to_plates(w, 2) is w


def test_errors():
    with pytest.raises(ValueError, match=r"input: expected shape \(\.\.\., N, 4\)"):
        BayesLinear(4, 3)(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"input: expected shape \(\.\.\., N, 2, H, W\)"):
        BayesConv2d(2, 3, 3)(torch.randn(2, 3, 5, 5))
    with pytest.raises(TypeError, match="prior"):
        BayesLinear(4, 3, prior="normal")
    with pytest.raises(ValueError, match="bias_prior_scale"):
        BayesLinear(4, 3, bias_prior_scale=0.0)
    with pytest.raises(ValueError, match="pseudo_data"):
        BayesLinear(4, 3, pseudo_data=-1)
    with pytest.raises(ValueError, match="row_scale"):
        MatrixNormalPrior(row_scale=0.0)
    with pytest.raises(ValueError, match="column_scale"):
        MatrixNormalPrior(column_scale="fan_in")
    with pytest.raises(ValueError, match="scale"):
        NormalPrior(scale="fan_out")
