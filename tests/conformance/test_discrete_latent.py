"""A Gaussian mixture with a discrete assignment per datum.

Pyro sums the assignments out with ``TraceEnum_ELBO``; the local ELBO samples every
latent and does not enumerate, so it refuses the enumerated model with an error that
says what to use instead. Guided by a categorical (no enumeration), the assignments
get the score-function estimator; with ``closed_form_kl=False`` and a guide without
auxiliary sites that is ``Trace_ELBO``'s estimator term for term, and both engines
take the same steps. (By default the reward of the score function holds the locations'
closed-form KL, and an autoguide's auxiliary terms, which ``Trace_ELBO`` leaves out:
another unbiased estimator.)
"""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, TraceEnum_ELBO, config_enumerate
from pyro.infer.autoguide import AutoNormal

from pyro_local.infer import LocalELBO, LocalSVI

from .helpers import fit

DATA = torch.tensor([-2.1, -1.7, -2.4, 1.9, 2.3, 2.0, 1.6, -1.9])


def model(data=DATA):
    locs = pyro.sample("locs", dist.Normal(0.0, 5.0).expand([2]).to_event(1))
    with pyro.plate("data", len(data)):
        c = pyro.sample("c", dist.Categorical(torch.tensor([0.5, 0.5])))
        pyro.sample("x", dist.Normal(locs[c], 1.0), obs=data)


def guided(model):
    def guide(data=DATA):
        loc = pyro.param("locs_loc", torch.tensor([-1.0, 1.0]))
        scale = pyro.param("locs_scale", torch.ones(2), constraint=dist.constraints.positive)
        pyro.sample("locs", dist.Normal(loc, scale).to_event(1))
        probs = pyro.param("assignment", torch.full((len(data), 2), 0.5),
                           constraint=dist.constraints.simplex)
        with pyro.plate("data", len(data)):
            pyro.sample("c", dist.Categorical(probs))

    return guide


def test_enumerated_assignments_are_refused_by_both_engines():
    enumerated = config_enumerate(model)
    guide = AutoNormal(poutine.block(enumerated, hide=["c"]))
    # Pyro's own answer trains.
    svi = SVI(enumerated, guide, pyro.optim.Adam({"lr": 0.05}), TraceEnum_ELBO(max_plate_nesting=1))
    assert torch.isfinite(torch.tensor(svi.step()))
    message = "site 'c' is marked for enumeration.*TraceEnum_ELBO"
    with pytest.raises(ValueError, match=message):
        LocalSVI(enumerated, guide).step()
    with pytest.raises(ValueError, match=message):
        SVI(enumerated, guide, pyro.optim.Adam({"lr": 0.05}), LocalELBO()).step()


def test_guided_assignments_step_as_under_pyro_svi():
    _, pyro_fit = fit("pyro", model, guided, steps=30, lr=0.05, lrd=1.0)
    _, local_fit = fit("local", model, guided, steps=30, lr=0.05, lrd=1.0, closed_form_kl=False)
    assert local_fit.losses == pytest.approx(pyro_fit.losses, rel=1e-5)
    for name, value in pyro_fit.params.items():
        torch.testing.assert_close(local_fit.params[name], value, rtol=1e-4, atol=1e-6)
