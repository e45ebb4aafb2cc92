"""Importance-sampled log-likelihoods (IWAE bounds) against exact marginals."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_local.infer import importance_log_likelihood
from pyro_local.infer.importance import iwae_bound


def conjugate_model(x):
    with pyro.plate("data", x.shape[0], dim=-1):
        z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0))
        pyro.sample("x", dist.Normal(z, 1.0), obs=x)


def exact_posterior(x):
    with pyro.plate("data", x.shape[0], dim=-1):
        pyro.sample("z", dist.Normal(x / 2, 0.5**0.5))


def test_exact_posterior_gives_exact_marginal():
    # With q the exact posterior every weight equals p(x): the estimate is exact for
    # any K and the effective sample size is K.
    x = torch.tensor([-1.0, 0.3, 2.5], dtype=torch.float64)
    est = importance_log_likelihood(
        conjugate_model, exact_posterior, x, num_samples=50, chunk_size=16
    )
    exact = torch.distributions.Normal(0.0, 2.0**0.5).log_prob(x)
    assert est.log_weights.shape == (50, 3)
    torch.testing.assert_close(est.log_likelihood, exact)
    torch.testing.assert_close(est.elbo, exact)
    torch.testing.assert_close(est.ess, torch.full((3,), 50.0, dtype=torch.float64))


def test_iwae_bound_groups():
    log_w = torch.randn(12, 5)
    expected = torch.stack(
        [torch.logsumexp(log_w[i : i + 4], 0) - math.log(4) for i in (0, 4, 8)]
    ).mean(0)
    torch.testing.assert_close(iwae_bound(log_w, 4), expected)
    torch.testing.assert_close(iwae_bound(log_w, 1), log_w.mean(0))
    with pytest.raises(ValueError, match="divisor of 12"):
        iwae_bound(log_w, 5)


def test_invalid_arguments():
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="num_samples"):
        importance_log_likelihood(conjugate_model, exact_posterior, x, num_samples=0)
    with pytest.raises(TypeError, match="chunk_size: expected an int"):
        importance_log_likelihood(conjugate_model, exact_posterior, x, chunk_size=1.5)

    def global_model(x):
        mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("x", dist.Normal(mu, 1.0), obs=x)

    def global_guide(x):
        pyro.sample("mu", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="site 'mu'.*data plate"):
        importance_log_likelihood(global_model, global_guide, x, num_samples=4)
