"""The default parametrization, prior and initialisation of Bayesian layers.

By default a layer computes ``[a, 1] W`` with the prior ``MN(0, I/n, I)`` and a
posterior that starts at a prior draw with a tenth of the prior's standard deviation.
So at initialisation, for standardized inputs, the pre-activations have about unit
variance across inputs and units (LeCun's initialisation), of which the posterior's
noise is about 1% (checked against exact expectations at 5 standard errors), and the
KL of every weight to its prior is about ``log 10`` nats (closed form against Monte
Carlo, at 5 standard errors).
"""

import math

import pyro
import pytest
import torch
from pyro.nn import PyroModule
from torch.distributions import kl_divergence

from pyro_local.guides import AutoMatrixNormal, AutoMeanFieldNormal
from pyro_local.infer import get_traces
from pyro_local.nn import BayesLinear, local_reparameterization

GUIDES = [AutoMatrixNormal, AutoMeanFieldNormal]
Z = 5.0


class Layer(PyroModule):
    def __init__(self, d, p):
        super().__init__()
        self.layer = BayesLinear(d, p)

    def forward(self, x):
        return self.layer(x)


def _setup(guide_cls, d, p, x):
    model = Layer(d, p)
    guide = guide_cls(model)
    guide(x)
    post = guide.posteriors.layer.weight.distribution()
    prior = pyro.poutine.trace(model).get_trace(x).nodes["layer.weight"]["fn"]
    return model, guide, post, prior


@pytest.mark.parametrize("guide_cls", GUIDES)
def test_initial_preactivations_have_unit_variance_and_one_percent_noise(guide_cls):
    d, p, n = 200, 100, 2000
    x = torch.randn(n, d)
    model, guide, post, _ = _setup(guide_cls, d, p, x)
    with local_reparameterization():
        model_trace, _ = get_traces(model, guide, (x,), {})
    b = model_trace.nodes["_RETURN"]["value"].detach()
    a = torch.cat([x, torch.ones(n, 1)], -1)  # rows with the bias coordinate
    mean = a @ post.mean.detach()
    # E[mean^2] = sum_i E[M_ij^2] E[a_i^2] = (d + 1) / (d + 1) = 1; its relative
    # standard error, over the draw of M (d p entries) and of x (n p products).
    signal = mean.pow(2).mean()
    assert abs(signal - 1) < Z * math.sqrt(2 / (d * p) + 2 / (n * p))
    # The noise: b - mean has variance sum_i a_i^2 s_ij^2 per row and unit, exactly.
    expected = (a.pow(2) @ post.variance.detach()).mean()
    noise = (b - mean).pow(2).mean()
    assert abs(noise / expected - 1) < Z * math.sqrt(2 / (n * p))
    assert abs(expected / signal - 0.01) < 0.001  # a tenth of the prior's std: 1%


@pytest.mark.parametrize("guide_cls", GUIDES)
def test_initial_kl_matches_monte_carlo_and_is_log_10_per_weight(guide_cls):
    d, p, s = 30, 20, 4000
    x = torch.randn(3, d)
    _, _, post, prior = _setup(guide_cls, d, p, x)
    with torch.no_grad():
        kl = kl_divergence(post, prior)
        w = post.sample((s,))
        log_ratio = post.log_prob(w) - prior.log_prob(w)
    se = log_ratio.std() / math.sqrt(s)
    assert abs(kl - log_ratio.mean()) < Z * se
    # Per weight: log(s / sigma) + (sigma^2 + mu^2) / (2 s^2) - 1/2 with sigma = s / 10
    # (jittered 1%) and mu ~ N(0, s^2): log 10 + 0.005 on average, mu^2 / (2 s^2)
    # having standard deviation 1/sqrt(2) per weight.
    k = (d + 1) * p
    assert abs(kl / k - (math.log(10) + 0.005)) < Z * (math.sqrt(0.5 / k) + 0.01)


def test_default_prior_draws_give_a_well_scaled_network():
    """Whatever the fan-in, a draw from the default prior keeps the pre-activations at
    the inputs' scale (variance (d + 1) / (d + 1) = 1 for standardized inputs)."""
    for d in (25, 400):
        layer = BayesLinear(d, 50)
        x = torch.randn(4000, d)
        b = layer(x)  # no guide: the weight is a draw from the prior
        assert abs(b.pow(2).mean() - 1) < Z * math.sqrt(2 / (d * 50) + 2 / (4000 * 50))
