"""A hierarchical logistic regression whose groups plate is subsampled.

Twelve groups share a weight vector and draw their own intercepts; each step sees
four groups, which the guide (an AutoNormal that creates the subsampled plate)
chooses and the model replays, with the likelihood scaled by 12 / 4.
"""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoNormal

from .helpers import elbo_difference_within_error, elbo_draws, fit

pytestmark = pytest.mark.slow  # several seconds per case: both engines train

GROUPS, PER_GROUP = 12, 10


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(GROUPS, PER_GROUP, 2, generator=g)
    intercepts = 0.7 * torch.randn(GROUPS, 1, generator=g)
    logits = x @ torch.tensor([1.5, -1.0]) + intercepts
    return x, torch.bernoulli(torch.sigmoid(logits), generator=g)


def model(x, y, subsample_size=4):
    w = pyro.sample("w", dist.Normal(torch.zeros(2), 1.0).to_event(1))
    sigma = pyro.sample("sigma", dist.HalfNormal(1.0))
    with pyro.plate("groups", GROUPS, subsample_size=subsample_size, dim=-1) as idx:
        b = pyro.sample("b", dist.Normal(0.0, sigma))
        logits = (x[idx].transpose(0, 1) * w).sum(-1) + b  # (obs, groups)
        with pyro.plate("obs", PER_GROUP, dim=-2):
            pyro.sample("y", dist.Bernoulli(logits=logits), obs=y[idx].T)


def _guide(model):
    def plates(x, y, subsample_size=4):
        return pyro.plate("groups", GROUPS, subsample_size=subsample_size, dim=-1)

    return AutoNormal(model, create_plates=plates)


def test_subsampled_hierarchical_logistic_matches_pyro_svi():
    x, y = _data()
    fits = {}
    for engine in ("pyro", "local"):
        guide, result = fit(engine, model, _guide, (x, y), steps=200, lr=0.05, lrd=0.995,
                            num_particles=4, max_plate_nesting=2)
        # The final ELBO on all twelve groups.
        draws, _ = elbo_draws(model, guide, (x, y, None), num_particles=2000, max_plate_nesting=2)
        fits[engine] = (result, draws, guide.median(x, y))
    (pyro_fit, pyro_draws, pyro_median), (local_fit, local_draws, local_median) = (
        fits["pyro"], fits["local"]
    )
    assert local_fit.losses == pytest.approx(pyro_fit.losses, rel=1e-4, abs=1e-3)
    for name, value in local_median.items():
        torch.testing.assert_close(value, pyro_median[name], rtol=1e-3, atol=1e-3)
    assert local_median["b"].shape == (GROUPS,)  # every group's intercept was fitted
    assert local_median["w"][0] > 0.5 and local_median["w"][1] < -0.3
    agree, diff, se = elbo_difference_within_error(local_draws, pyro_draws)
    assert agree, (diff, se)
