"""The local reparameterization handler: deferral, the op's meaning, and where it
leaves things alone."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Predictive
from pyro.nn import PyroModule

from pyro_local.guides import AutoMatrixNormal, AutoMeanFieldNormal
from pyro_local.infer import LocalELBO
from pyro_local.infer.site_terms import site_terms
from pyro_local.infer.traces import get_traces
from pyro_local.nn import BayesLinear, NormalPrior, local_reparameterization
from pyro_local.nn.deferred import deferred_posterior


class Net(PyroModule):
    def __init__(self, prior=None):
        super().__init__()
        self.l1 = BayesLinear(4, 5, prior=prior)
        self.l2 = BayesLinear(5, 3, prior=prior, bias="site")

    def forward(self, x, y=None):
        logits = self.l2(torch.tanh(self.l1(x)))
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", dist.Categorical(logits=logits), obs=y)
        return logits


def _data(n=6):
    return torch.randn(n, 4), torch.randint(0, 3, (n,))


@pytest.mark.parametrize("guide_cls", [AutoMatrixNormal, AutoMeanFieldNormal])
def test_weights_are_deferred_and_replayed(guide_cls):
    model = Net()
    guide = guide_cls(model)
    x, y = _data()
    with local_reparameterization():
        model_trace, guide_trace = get_traces(model, guide, (x, y), {})
    for name in ("l1.weight", "l2.weight"):
        guide_site, model_site = guide_trace.nodes[name], model_trace.nodes[name]
        assert deferred_posterior(guide_site["value"]) is guide_site["fn"]
        assert model_site["value"] is guide_site["value"]
        torch.testing.assert_close(guide_site["value"], guide_site["fn"].mean)
    # The separate bias is an ordinary Normal site, sampled as usual.
    assert deferred_posterior(guide_trace.nodes["l2.bias"]["value"]) is None
    # Every latent's KL is in closed form.
    terms = site_terms(model_trace, guide_trace)["global"]
    assert {t.site: t.kind for t in terms} == {
        "l1.weight": "kl",
        "l2.weight": "kl",
        "l2.bias": "kl",
        "y": "observed",
    }


def test_without_handler_weights_are_sampled():
    model = Net()
    guide = AutoMatrixNormal(model)
    x, y = _data()
    _, guide_trace = get_traces(model, guide, (x, y), {})
    site = guide_trace.nodes["l1.weight"]
    assert deferred_posterior(site["value"]) is None
    assert not torch.allclose(site["value"], site["fn"].mean)


def test_local_draws_vary_per_example_and_call():
    """Identical inputs get independent pre-activation noise under the handler, and
    the same noise (one shared weight) without it."""
    model = Net()
    guide = AutoMatrixNormal(model)
    x, y = torch.randn(1, 4).expand(5, 4), torch.zeros(5, dtype=torch.long)
    with local_reparameterization():
        guide_trace = poutine.trace(guide).get_trace(x, y)
        out = poutine.replay(model.l1, guide_trace)(x)
    assert out.std(0).min() > 0
    guide_trace = poutine.trace(guide).get_trace(x, y)
    out = poutine.replay(model.l1, guide_trace)(x)
    torch.testing.assert_close(out.std(0), torch.zeros(5))


def test_conditioned_weights_are_left_alone():
    """A weight given a value (condition) is used as it is, handler or not."""
    layer = BayesLinear(4, 2, bias=None, input_scale=None)
    w = torch.randn(4, 2)
    x = torch.randn(3, 4)
    with local_reparameterization():
        out = poutine.condition(layer, data={"weight": w})(x)
    torch.testing.assert_close(out, x @ w)


def test_blocked_op_keeps_its_local_meaning():
    """A poutine.block between the handler and the layer hides the op; a deferred
    weight is still drawn from its marginal, never used as a value."""
    model = Net()
    guide = AutoMatrixNormal(model)
    x, y = torch.randn(1, 4).expand(200, 4), torch.zeros(200, dtype=torch.long)
    with local_reparameterization():
        guide_trace = poutine.trace(guide).get_trace(x, y)
        out = poutine.block(poutine.replay(model.l1, guide_trace))(x)
    assert out.std(0).min() > 0


def test_prior_without_closed_form_kl_is_rejected():
    def model(x):
        w = pyro.sample(
            "w", dist.Cauchy(torch.zeros(4, 2), 1.0).to_event(2), infer={"local_reparam": True}
        )
        return x @ w

    def guide(x):
        pyro.sample(
            "w", dist.Normal(torch.zeros(4, 2), 1.0).to_event(2), infer={"local_reparam": True}
        )

    with local_reparameterization(), pytest.raises(ValueError, match="closed form"):
        get_traces(model, guide, (torch.randn(3, 4),), {})


def test_normal_prior_and_prior_only_draws():
    """With a NormalPrior the handler works, and without a guide it defers to the prior."""
    model = Net(prior=NormalPrior(1.0))
    x, y = _data()
    with local_reparameterization():
        trace = poutine.trace(model).get_trace(x, y)
    site = trace.nodes["l1.weight"]
    assert deferred_posterior(site["value"]) is site["fn"]
    guide = AutoMeanFieldNormal(model)
    with local_reparameterization():
        loss = LocalELBO().differentiable_loss(model, guide, x, y)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("parallel", [False, True])
def test_predictive_shapes(parallel):
    model = Net()
    guide = AutoMatrixNormal(model)
    x, y = _data(7)
    guide(x, y)
    predictive = Predictive(
        model, guide=guide, num_samples=5, parallel=parallel, return_sites=["_RETURN", "y"]
    )
    out = predictive(x)
    assert out["_RETURN"].shape == (5, 7, 3)
    assert out["y"].shape == (5, 7)
    # Whole weights: each draw is one network, so equal inputs give equal outputs.
    twin = predictive(torch.randn(1, 4).expand(2, 4))["_RETURN"]
    torch.testing.assert_close(twin[:, 0], twin[:, 1])


def test_closed_form_kl_is_checked_once_per_structure(monkeypatch):
    """Under validation the handler computes each (posterior, prior) pair's KL once,
    not on every step: the check depends on types and shapes only."""
    from pyro.distributions.kl import kl_divergence

    import pyro_local.nn.local_reparam_messenger as messenger

    calls = []

    def counting_kl(p, q):
        calls.append((type(p), type(q)))
        return kl_divergence(p, q)

    monkeypatch.setattr(messenger, "kl_divergence", counting_kl)
    monkeypatch.setattr(messenger, "_KL_FOUND", set())
    model = Net()
    guide = AutoMatrixNormal(model)
    x, y = _data()
    for _ in range(3):
        with local_reparameterization():
            get_traces(model, guide, (x, y), {})
    # l1.weight (5 x 5) and l2.weight (6 x 3) differ in shape: two structures.
    assert len(calls) == 2
