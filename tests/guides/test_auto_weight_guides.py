"""AutoMatrixNormal and AutoMeanFieldNormal: sites, structures, initialisation, errors."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoDelta, init_to_value
from pyro.nn import PyroModule, PyroSample

from pyro_local.distributions import DenseFactor, DiagonalFactor, LowRankFactor, MatrixNormal
from pyro_local.guides import (
    PAPER_INIT,
    AutoMatrixNormal,
    AutoMeanFieldNormal,
    InitScales,
    init_to_pytorch,
)
from pyro_local.infer.site_terms import site_terms
from pyro_local.infer.traces import get_traces
from pyro_local.nn import BayesLinear

FACTORS = {"diagonal": DiagonalFactor, "low_rank": LowRankFactor, "dense": DenseFactor}


class Model(PyroModule):
    def __init__(self, d_in=4, d_out=3, bias="row", **layer_kwargs):
        super().__init__()
        self.layer = BayesLinear(d_in, d_out, bias=bias, **layer_kwargs)

    def forward(self, x, y=None):
        out = self.layer(x)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Normal(out, 1.0).to_event(1), obs=y)
        return out


def _guide_trace(guide, model, x, y):
    model_trace, guide_trace = get_traces(model, guide, (x, y), {})
    return model_trace, guide_trace


@pytest.mark.parametrize(
    "structure", ["diagonal", "low_rank", "dense", ("dense", "diagonal"), ("low_rank", "dense")]
)
def test_structures(structure):
    model = Model()
    x, y = torch.randn(5, 4), torch.randn(5, 3)
    guide = AutoMatrixNormal(model, structure=structure, rank=2)
    model_trace, guide_trace = _guide_trace(guide, model, x, y)
    fn = guide_trace.nodes["layer.weight"]["fn"]
    row, column = (structure, structure) if isinstance(structure, str) else structure
    assert isinstance(fn, MatrixNormal) and fn.event_shape == (5, 3)
    assert isinstance(fn.row_factor, FACTORS[row])
    assert isinstance(fn.column_factor, FACTORS[column])
    assert guide_trace.nodes["layer.weight"]["infer"] == {"local_reparam": True}
    kinds = {t.site: t.kind for t in site_terms(model_trace, guide_trace)["global"]}
    assert kinds["layer.weight"] == "kl"


def test_paper_initialisation():
    """In the paper's parametrization (fan-in-scaled rows, prior ``MN(0, I, I)``):
    ``M ~ N(0, 4 / (n + p))`` with a zero bias row; log row/column scales
    ``N(0, 0.01^2)``, the bias row's ``N(-4, 0.01^2)``. Checked at 5 standard errors:
    the sample std of ``K`` normals has relative standard error ``1 / sqrt(2K)``, a
    sample mean of ``K`` log-scales ``0.01 / sqrt(K)``."""
    d_in, d_out = 200, 100
    model = Model(d_in, d_out, input_scale="fan_in")  # with the prior MN(0, I, I)
    guide = AutoMatrixNormal(model, init_scales=PAPER_INIT)
    guide(torch.randn(2, d_in), torch.randn(2, d_out))
    post = guide.posteriors.layer.weight
    loc = post.loc.detach()
    assert (loc[-1] == 0).all()
    k = d_in * d_out
    expected = math.sqrt(4 / (d_in + d_out))
    assert abs(loc[:-1].std() / expected - 1) < 5 / math.sqrt(2 * k)
    log_row, log_col = post.row.scale.detach().log(), post.column.scale.detach().log()
    assert abs(log_row[:-1].mean()) < 5 * 0.01 / math.sqrt(d_in)
    assert abs(log_col.mean()) < 5 * 0.01 / math.sqrt(d_out)
    assert abs(log_row[-1] + 4) < 5 * 0.01
    assert log_row[:-1].std() < 0.02  # jitter of 0.01, not more


def test_mean_field_and_separate_bias_sites():
    model = Model(bias="site")
    x, y = torch.randn(5, 4), torch.randn(5, 3)
    guide = AutoMeanFieldNormal(model, init_scale=0.05)
    model_trace, guide_trace = _guide_trace(guide, model, x, y)
    weight = guide_trace.nodes["layer.weight"]["fn"]
    bias = guide_trace.nodes["layer.bias"]["fn"]
    assert isinstance(weight.base_dist, dist.Normal) and weight.event_shape == (4, 3)
    assert isinstance(bias.base_dist, dist.Normal) and bias.event_shape == (3,)
    torch.testing.assert_close(bias.base_dist.scale, torch.full((3,), 0.05))
    assert "local_reparam" not in guide_trace.nodes["layer.bias"]["infer"]
    kinds = {t.site: t.kind for t in site_terms(model_trace, guide_trace)["global"]}
    assert kinds == {"layer.weight": "kl", "layer.bias": "kl", "y": "observed"}


def test_unmarked_weight_sites_are_not_marked():
    """A plain PyroSample weight used with ``x @ w`` must never be deferred."""

    class Plain(PyroModule):
        def __init__(self):
            super().__init__()
            self.w = PyroSample(dist.Normal(0.0, 1.0).expand([4, 3]).to_event(2))

        def forward(self, x):
            return x @ self.w

    guide = AutoMatrixNormal(Plain())
    trace = pyro.poutine.trace(guide).get_trace(torch.randn(2, 4))
    assert trace.nodes["w"]["infer"] == {}
    assert isinstance(trace.nodes["w"]["fn"], MatrixNormal)


def test_init_loc_fn_and_median():
    model = Model(bias="site")
    w0, b0 = torch.randn(4, 3), torch.randn(3)
    guide = AutoMatrixNormal(
        model, init_loc_fn=init_to_value(values={"layer.weight": w0, "layer.bias": b0})
    )
    x, y = torch.randn(5, 4), torch.randn(5, 3)
    guide(x, y)
    median = guide.median()
    torch.testing.assert_close(median["layer.weight"], w0)
    torch.testing.assert_close(median["layer.bias"], b0)


def test_errors():
    model = Model()
    with pytest.raises(ValueError, match="structure"):
        AutoMatrixNormal(model, structure="banded")
    with pytest.raises(TypeError, match="InitScales"):
        AutoMatrixNormal(model, init_scales=(1.0, 1.0))
    with pytest.raises(ValueError, match="rank"):
        AutoMatrixNormal(model, structure="low_rank", rank=0)(torch.randn(2, 4), torch.randn(2, 3))

    def discrete():
        pyro.sample("k", dist.Categorical(torch.ones(3)))

    with pytest.raises(TypeError, match="real-valued"):
        AutoMatrixNormal(discrete)()


@pytest.mark.parametrize("guide_cls", [AutoMatrixNormal, AutoMeanFieldNormal])
@pytest.mark.parametrize("input_scale", [None, "fan_in"])
def test_default_initialisation_is_pytorchs_with_a_tenth_of_its_scale_as_std(
    guide_cls, input_scale
):
    """In either parametrization, the weights the layer applies (``c W``) start at
    ``U(-1/sqrt(n), 1/sqrt(n))`` (PyTorch's initialisation; sample std within 5
    standard errors of ``1/sqrt(3n)``, the uniform's fourth moment giving a relative
    standard error ``sqrt(0.8 / (4K))``), with posterior std ``0.1/sqrt(n)`` (up to the
    0.01 jitter of each log-scale factor)."""
    d_in, d_out = 300, 200
    n, k = d_in + 1, (d_in + 1) * d_out
    model = Model(d_in, d_out, input_scale=input_scale)
    guide = guide_cls(model)
    guide(torch.randn(2, d_in), torch.randn(2, d_out))
    c = model.layer.weight_map.scale
    post = guide.posteriors.layer.weight.distribution()
    loc, std = c * post.mean.detach(), c * post.variance.detach().sqrt()
    assert loc.abs().max() <= 1 / math.sqrt(n) * (1 + 1e-6)
    assert abs(loc.std() * math.sqrt(3 * n) - 1) < 5 * math.sqrt(0.8 / (4 * k))
    log_ratio = (std * math.sqrt(n)).log() - math.log(0.1)
    assert log_ratio.abs().max() < 6 * 0.01 * math.sqrt(2)


def test_init_to_pytorch_for_pyros_autoguides():
    """Pyro's autoguides start the layers' weights where the weight guides do."""
    d_in, d_out = 300, 200
    model = Model(d_in, d_out, bias="site")
    guide = AutoDelta(model, init_loc_fn=init_to_pytorch)
    guide(torch.randn(2, d_in), torch.randn(2, d_out))
    w = guide.median()["layer.weight"]
    assert w.abs().max() <= 1 / math.sqrt(d_in) * (1 + 1e-6)
    assert abs(w.std() * math.sqrt(3 * d_in) - 1) < 5 * math.sqrt(0.8 / (4 * w.numel()))


def test_init_scales_relative_and_errors():
    scales = InitScales.relative(0.04)
    assert scales.row * scales.column == pytest.approx(0.04)
    assert scales.bias_row == pytest.approx(0.04)
    with pytest.raises(ValueError, match="weight_scale"):
        InitScales.relative(0.0)
    with pytest.raises(ValueError, match="init_scales.loc"):
        AutoMatrixNormal(Model(), init_scales=InitScales(loc="zeros"))
    with pytest.raises(ValueError, match="init_scales.row"):
        AutoMeanFieldNormal(Model(), init_scales=InitScales(row=0.0))
