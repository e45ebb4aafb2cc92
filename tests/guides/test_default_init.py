"""The default parametrization, prior and initialisation of Bayesian layers.

By default a layer computes ``[a, 1] W`` and its posterior starts at PyTorch's
initialisation ``U(-1/sqrt(n), 1/sqrt(n))`` with standard deviation ``0.1/sqrt(n)``.
So at initialisation, for standardized inputs, the pre-activations have variance 1/3
across inputs and units (as PyTorch's ``nn.Linear``), of which the posterior's noise
is 3% (checked against exact expectations at 5 standard errors), and the KL at
initialisation agrees with Monte Carlo (at 5 standard errors).
"""

import math

import pyro
import pytest
import torch
from pyro.nn import PyroModule
from torch.distributions import kl_divergence

from pyro_local.guides import AutoMatrixNormal, AutoMeanFieldNormal
from pyro_local.infer.traces import get_traces
from pyro_local.nn import BayesLinear, MatrixNormalPrior, local_reparameterization

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
def test_initial_preactivations_are_pytorchs_with_three_percent_noise(guide_cls):
    d, p, n = 200, 100, 2000
    x = torch.randn(n, d)
    model, guide, post, _ = _setup(guide_cls, d, p, x)
    with local_reparameterization():
        model_trace, _ = get_traces(model, guide, (x,), {})
    b = model_trace.nodes["_RETURN"]["value"].detach()
    a = torch.cat([x, torch.ones(n, 1)], -1)  # rows with the bias coordinate
    mean = a @ post.mean.detach()
    # E[mean^2] = sum_i E[M_ij^2] E[a_i^2] = (d + 1) / (3 (d + 1)) = 1/3; its relative
    # standard error, over the draw of M (d p entries, uniform: relative variance of
    # M^2 is 0.8) and of x (n p products).
    signal = mean.pow(2).mean()
    assert abs(3 * signal - 1) < Z * math.sqrt(0.8 / (d * p) + 2 / (n * p))
    # The noise: b - mean has variance sum_i a_i^2 s_ij^2 per row and unit, exactly.
    expected = (a.pow(2) @ post.variance.detach()).mean()
    noise = (b - mean).pow(2).mean()
    assert abs(noise / expected - 1) < Z * math.sqrt(2 / (n * p))
    assert abs(expected / signal - 0.03) < 0.003  # std 0.1 / sqrt(n) against 1 / sqrt(3 n)


@pytest.mark.parametrize("guide_cls", GUIDES)
def test_initial_kl_matches_monte_carlo(guide_cls):
    d, p, s = 30, 20, 4000
    x = torch.randn(3, d)
    _, _, post, prior = _setup(guide_cls, d, p, x)
    with torch.no_grad():
        kl = kl_divergence(post, prior)
        w = post.sample((s,))
        log_ratio = post.log_prob(w) - prior.log_prob(w)
    se = log_ratio.std() / math.sqrt(s)
    assert abs(kl - log_ratio.mean()) < Z * se


def test_fan_in_prior_draws_give_a_well_scaled_network():
    """Whatever the fan-in, a draw from the ``"fan_in"`` prior (the paper's) keeps the
    pre-activations at the inputs' scale (variance (d + 1) / (d + 1) = 1 for
    standardized inputs)."""
    for d in (25, 400):
        layer = BayesLinear(d, 50, prior=MatrixNormalPrior(row_scale="fan_in"))
        x = torch.randn(4000, d)
        b = layer(x)  # no guide: the weight is a draw from the prior
        assert abs(b.pow(2).mean() - 1) < Z * math.sqrt(2 / (d * 50) + 2 / (4000 * 50))
