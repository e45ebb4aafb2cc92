"""LocalSVI against Pyro's SVI and against closed-form posteriors."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule, PyroSample

from pyro_local.infer import LocalSVI
from pyro_local.poutine import layer


class Regression(PyroModule):
    """y ~ N(X w, sigma^2), w ~ prior: conjugate when the prior is Normal."""

    def __init__(self, d, prior="normal", tau=1.0, sigma=0.5, plate="data"):
        super().__init__()
        self.sigma, self.plate = sigma, plate
        base = dist.Normal(0.0, tau) if prior == "normal" else dist.StudentT(4.0, 0.0, tau)
        self.w = PyroSample(base.expand([d]).to_event(1))

    def forward(self, x, y=None):
        w = self.w  # sampled outside the data plate
        with pyro.plate(self.plate, x.shape[0]):
            return pyro.sample(f"{self.plate}_y", dist.Normal(x @ w, self.sigma), obs=y)


def _data(n=40, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    # Orthogonal columns: the posterior covariance is diagonal, so a mean-field
    # guide can represent the exact posterior.
    q, _ = torch.linalg.qr(torch.randn(n, d, generator=g))
    x = q * torch.tensor([3.0, 2.0, 1.0])[:d]
    y = x @ torch.tensor([1.0, -2.0, 0.5])[:d] + 0.5 * torch.randn(n, generator=g)
    return x, y


@pytest.mark.parametrize("prior,elbo", [("normal", TraceMeanField_ELBO), ("student", Trace_ELBO)])
def test_one_layer_steps_like_pyro_svi(prior, elbo):
    x, y = _data()
    paths = []
    for engine in ("pyro", "local"):
        pyro.clear_param_store()
        torch.manual_seed(0)
        model = Regression(3, prior)
        guide = AutoNormal(model)
        guide(x, y)  # set the guide up first: its setup draws random numbers
        pyro.set_rng_seed(0)
        if engine == "pyro":
            svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), elbo())
            losses = [svi.step(x, y) for _ in range(8)]
        else:
            # seed=0 draws what pyro.set_rng_seed(0) makes Pyro's SVI draw
            svi = LocalSVI(model, guide, optim_args={"lr": 0.05}, seed=0)
            losses = [svi.step(x, y).loss for _ in range(8)]
        paths.append((losses, guide.locs.w.detach().clone(), guide.scales.w.detach().clone()))
    (l_pyro, m_pyro, s_pyro), (l_ours, m_ours, s_ours) = paths
    assert l_ours == pytest.approx(l_pyro, rel=1e-5)
    torch.testing.assert_close(m_ours, m_pyro)
    torch.testing.assert_close(s_ours, s_pyro)


def _exact_posterior(x, y, tau=1.0, sigma=0.5):
    precision = x.T @ x / sigma**2 + torch.eye(x.shape[1]) / tau**2
    cov = torch.linalg.inv(precision)
    return cov @ x.T @ y / sigma**2, cov.diagonal().sqrt()


@pytest.mark.slow
def test_two_layers_recover_their_closed_form_posteriors():
    # Two independent conjugate regressions, one per layer, trained locally.
    xa, ya = _data(seed=1)
    xb, yb = _data(seed=2)
    ma, mb = Regression(3, plate="data_a"), Regression(3, plate="data_b")

    class Model(PyroModule):
        def __init__(self):
            super().__init__()
            self.a, self.b = ma, mb

        def forward(self):
            with layer("a"):
                self.a(xa, ya)
            with layer("b"):
                self.b(xb, yb)

    model = Model()
    guide = AutoNormal(model, init_scale=0.1)
    svi = LocalSVI(model, guide, optim_args={"lr": 0.05}, seed=0)
    for step in range(1200):
        if step == 800:  # anneal, so the stationary noise of SGD is small
            for opt in svi.optimizers.values():
                opt.param_groups[0]["lr"] = 0.005
        svi.step()
    assert set(svi.layer_params) == {"a", "b"}
    for name, (x, y) in {"a": (xa, ya), "b": (xb, yb)}.items():
        mean, std = _exact_posterior(x, y)
        loc = getattr(guide.locs, name).w.detach()
        scale = getattr(guide.scales, name).w.detach()
        # Tolerance: a tenth of a posterior standard deviation for the mean and 10% for
        # the scale; the stationary noise of Adam at lr 0.005 is well inside both.
        assert ((loc - mean).abs() / std).max() < 0.1, (loc, mean)
        assert ((scale / std).log().abs()).max() < math.log(1.1), (scale, std)
