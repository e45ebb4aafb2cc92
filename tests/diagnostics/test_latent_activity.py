"""Active units and exact-zero fractions of latent layers."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from scipy.stats import norm

from pyro_local.diagnostics.latent_activity import latent_activity
from pyro_local.distributions import RectifiedNormal


def guide(x):
    # Unit 0 follows the datum (Var_x E[z | x] = Var(x) = 1); unit 1 ignores it but
    # is noisy (posterior variance 4, no signal); unit 2 is rectified and constant.
    n = x.shape[0]
    loc = torch.stack([x, torch.zeros(n), torch.full((n,), -0.5)], -1)
    scale = torch.tensor([0.5, 2.0, 1.0]).expand(n, 3)
    with pyro.plate("data", n, dim=-1):
        pyro.sample("g", dist.Normal(loc[:, :2], scale[:, :2]).to_event(1))
        pyro.sample("r", RectifiedNormal(loc[:, 2:], scale[:, 2:]).to_event(1))


def batches(num=20, size=100):
    g = torch.Generator().manual_seed(5)
    return [torch.randn(size, generator=g) for _ in range(num)]


def test_active_units_and_zero_fractions():
    result = latent_activity(guide, batches(), num_samples=5)
    g, r = result["g"], result["r"]
    assert (g.num_units, g.active_units, r.num_units, r.active_units) == (2, 1, 1, 0)
    # Var_x(E[z|x]) of unit 0 is Var(x) = 1; of unit 1 it is 0 although the raw
    # variance of 5-draw means would be 4 / 5: the noise correction removes it.
    # Standard errors: about sqrt(2 / 2000) for the first, and the spread of the
    # corrected noise term, sqrt(2 / 4) * 4 / 5 / sqrt(2000) ~ 0.013, for the second.
    assert float(g.unit_variance[0]) == pytest.approx(1.0, abs=5 * (2 / 2000) ** 0.5)
    assert float(g.unit_variance[1]) < 5 * 0.013
    assert g.zero_fraction == 0.0
    p0 = norm.cdf(0.5)  # P(z = 0) = Phi(-loc / scale)
    se = (p0 * (1 - p0) / (2000 * 5)) ** 0.5
    assert r.zero_fraction == pytest.approx(p0, abs=5 * se)


def test_site_selection_and_errors():
    assert list(latent_activity(guide, batches(2), sites=["r"])) == ["r"]
    with pytest.raises(ValueError, match="no sample sites"):
        latent_activity(guide, batches(2), sites=["nope"])
    with pytest.raises(ValueError, match="num_samples"):
        latent_activity(guide, batches(2), num_samples=0)
    with pytest.raises(ValueError, match="at least one batch"):
        latent_activity(guide, [])
