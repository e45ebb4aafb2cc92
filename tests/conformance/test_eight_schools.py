"""Eight schools, centred and non-centred, with AutoNormal and AutoDiagonalNormal.

``tau`` has a half-Cauchy prior: the autoguides sample it through ``exp`` and attach
the log-Jacobian to their ``Delta`` site. Scoring that site as ``KL(Delta || prior)
= -log prior(tau)`` drops the Jacobian; LocalSVI once did, and drove ``tau``'s median
to 0.024 where Pyro's SVI with ``Trace_ELBO`` gives 2.3, with a fit 3 nats worse.
"""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer.autoguide import AutoDiagonalNormal, AutoNormal

from .helpers import elbo_difference_within_error, elbo_draws, fit

pytestmark = pytest.mark.slow  # several seconds per case: both engines train

Y = torch.tensor([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = torch.tensor([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def centred():
    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))
    with pyro.plate("school", len(Y)):
        theta = pyro.sample("theta", dist.Normal(mu, tau))
        pyro.sample("obs", dist.Normal(theta, SIGMA), obs=Y)


def non_centred():
    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))
    with pyro.plate("school", len(Y)):
        theta_tilde = pyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        pyro.sample("obs", dist.Normal(mu + tau * theta_tilde, SIGMA), obs=Y)


@pytest.mark.parametrize("guide_cls", [AutoNormal, AutoDiagonalNormal])
@pytest.mark.parametrize("model", [non_centred, centred], ids=["non_centred", "centred"])
def test_eight_schools_matches_pyro_svi(model, guide_cls):
    anchored = model is non_centred and guide_cls is AutoNormal
    fits = {}
    for engine in ("pyro", "local"):
        # The engines agree step by step from the start; only the case compared with
        # a long reference run needs to converge.
        guide, result = fit(engine, model, guide_cls, steps=400 if anchored else 150,
                            lr=0.1, lrd=0.99, num_particles=8)
        fits[engine] = (result, elbo_draws(model, guide)[0], guide.median())
    (pyro_fit, pyro_draws, pyro_median), (local_fit, local_draws, local_median) = (
        fits["pyro"], fits["local"]
    )
    # The same estimator, seed and optimizer: the same steps, rounding apart.
    assert local_fit.losses == pytest.approx(pyro_fit.losses, rel=1e-4, abs=1e-3)
    for name, value in local_median.items():
        torch.testing.assert_close(value, pyro_median[name], rtol=1e-3, atol=1e-3)
    agree, diff, se = elbo_difference_within_error(local_draws, pyro_draws)
    assert agree, (diff, se)
    if anchored:
        # Against Pyro's fit after 3000 steps at lr 0.05 (median tau 2.35, ELBO -31.7):
        # this shorter schedule lands within its noise (tau 2.0 to 2.4 over seeds).
        assert 1.5 < float(local_median["tau"]) < 3.5
        assert float(local_draws.mean()) > -32.5
