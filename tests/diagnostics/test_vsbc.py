"""Simulation-based calibration of variational fits (Yao et al. 2018) on a conjugate
normal mean, where the exact posterior is known: the exact guide passes, a biased one
and a too-narrow one are caught, each for the right reason."""

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.autoguide import AutoNormal

from pyro_local import diagnostics as D

from .conftest import conjugate_vsbc


def test_exact_posterior_gives_uniform_symmetric_quantiles():
    result = conjugate_vsbc(num_replications=200)
    u = result.quantiles["mu"]
    assert u.shape == (200, 1) and np.all((u >= 0) & (u <= 1))
    uniform, symmetric = result.tests()["mu"]
    # Both null hypotheses hold: a p-value below 0.01 has probability 0.01 each.
    assert uniform[0] > 0.01 and symmetric[0] > 0.01
    assert result.verdict() == "ok"


def test_biased_guide_is_detected():
    # The guide's mean one posterior sd too high: the truth falls low in it.
    result = conjugate_vsbc(shift=1.0, num_replications=200)
    assert result.verdict() == "biased"
    assert np.mean(result.quantiles["mu"]) < 0.4


def test_too_narrow_unbiased_guide_is_miscalibrated_not_biased():
    # Half the posterior sd: the quantiles pile up at 0 and 1, symmetrically.
    result = conjugate_vsbc(scale=0.5, num_replications=200)
    assert result.verdict() == "miscalibrated"


def test_vsbc_with_svi_fits():
    # The procedure a user would check: AutoNormal fitted by SVI, a few replications.
    def model(x, y):
        w = pyro.sample("w", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(x)):
            pyro.sample("y", dist.Normal(w * x, 0.5), obs=y)

    def fit(conditioned, x, y):
        pyro.clear_param_store()
        guide = AutoNormal(conditioned)
        svi = SVI(conditioned, guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())
        for _ in range(150):
            svi.step(x, y)
        return guide

    x = torch.linspace(-1, 1, 8)
    result = D.vsbc(model, fit, x, torch.zeros(8), num_replications=4, num_samples=200)
    assert result.quantiles["w"].shape == (4,) and result.num_draws == 200
    with pytest.raises(ValueError, match="sites"):
        D.vsbc(model, fit, x, torch.zeros(8), num_replications=1, sites=["y"])
