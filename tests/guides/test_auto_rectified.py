"""AutoRectifiedNormal against an exact posterior; generic autoguides and NUTS refuse.

The model has one rectified latent and three Gaussian observations, so the posterior
(an atom at 0 and a truncated-normal slab) and the ELBO of any rectified-normal guide
are exact by quadrature and truncated-normal moments.
"""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import MCMC, NUTS, SVI, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoDiagonalNormal, AutoNormal
from scipy import integrate, stats

from pyro_local.distributions import RectifiedNormal
from pyro_local.guides import AutoRectifiedNormal
from pyro_local.infer import LocalELBO, LocalSVI

F64 = torch.float64
X = torch.tensor([-0.3, 0.1, -0.5], dtype=F64)
SIGMA, PRIOR_LOC = 0.6, 0.2


def model():
    prior = RectifiedNormal(torch.tensor(PRIOR_LOC, dtype=F64), torch.tensor(1.0, dtype=F64))
    z = pyro.sample("z", prior)
    with pyro.plate("data", len(X)):
        pyro.sample("x", dist.Normal(z, SIGMA), obs=X)


def _posterior():
    """P(z = 0 | x) and E[z | x] by quadrature."""

    def lik(z):
        return math.prod(stats.norm.pdf(float(x), z, SIGMA) for x in X)

    atom = stats.norm.cdf(-PRIOR_LOC) * lik(0.0)
    slab = integrate.quad(lambda z: stats.norm.pdf(z, PRIOR_LOC) * lik(z), 0, math.inf)[0]
    first = integrate.quad(lambda z: z * stats.norm.pdf(z, PRIOR_LOC) * lik(z), 0, math.inf)[0]
    return atom / (atom + slab), first / (atom + slab)


def _exact_elbo(loc, scale):
    # E_q log N(x | z, sigma) needs only E z and E z^2; the KL is in closed form.
    q = RectifiedNormal(loc, scale)
    p = RectifiedNormal(torch.tensor(PRIOR_LOC, dtype=F64), torch.tensor(1.0, dtype=F64))
    ez, ez2 = q.mean, q.variance + q.mean**2
    square = (X**2).sum() - 2 * X.sum() * ez + len(X) * ez2
    log_lik = -0.5 * len(X) * math.log(2 * math.pi * SIGMA**2) - square / (2 * SIGMA**2)
    return log_lik - torch.distributions.kl_divergence(q, p)


def _guide_at(loc, scale):
    guide = AutoRectifiedNormal(model)
    guide()
    guide.locs.z = torch.tensor(loc, dtype=F64)
    guide.scales.z = torch.tensor(scale, dtype=F64)
    return guide


@pytest.mark.parametrize(
    "run",
    [
        lambda: AutoNormal(model)(),
        lambda: AutoDiagonalNormal(model)(),
        lambda: MCMC(NUTS(model), num_samples=2, warmup_steps=2, disable_progbar=True).run(),
    ],
    ids=["AutoNormal", "AutoDiagonalNormal", "NUTS"],
)
def test_generic_autoguides_and_nuts_refuse_and_name_the_right_guide(run):
    # exp would map onto (0, inf) and give the atom probability 0, silently.
    with pytest.raises(ValueError, match="atom at 0.*pyro_local.guides.AutoRectifiedNormal"):
        run()


def test_elbo_gradient_equals_the_exact_gradient():
    guide = _guide_at(0.1, 0.5)
    params = [guide.locs.z_unconstrained, guide.scales.z_unconstrained]
    exact = torch.autograd.grad(
        -_exact_elbo(guide.locs.z, guide.scales.z), params
    )
    elbo = LocalELBO(num_particles=4000, vectorize_particles=True)
    grads = torch.stack(
        [torch.stack(torch.autograd.grad(elbo.differentiable_loss(model, guide), params))
         for _ in range(10)]
    )
    mean, se = grads.mean(0), grads.std(0) / math.sqrt(len(grads))
    # Five standard errors, and the Monte Carlo noise is about 0.5 % of the gradient.
    assert ((mean - torch.stack(exact)).abs() < 5 * se).all(), (mean, exact, se)


@pytest.mark.slow
def test_fit_finds_the_posterior_atom():
    prob_zero, mean = _posterior()
    assert prob_zero == pytest.approx(0.797, abs=1e-3)  # mostly atom: exp would say 0
    pyro.set_rng_seed(0)
    guide = AutoRectifiedNormal(model)
    elbo = LocalELBO(num_particles=16, vectorize_particles=True)
    svi = LocalSVI(model, guide, loss=elbo, optim_args={"lr": 0.05}, seed=0)
    for step in range(400):
        if step == 300:
            svi.optimizers["global"].param_groups[0]["lr"] = 0.005
        svi.step()
    q = RectifiedNormal(guide.locs.z.detach(), guide.scales.z.detach())
    # The best rectified normal is 1e-4 nats from the posterior; the tolerances are
    # the stationary noise of the last steps.
    assert float(q.prob_zero) == pytest.approx(prob_zero, abs=0.02)
    assert float(q.mean) == pytest.approx(mean, abs=0.01)


def test_other_sites_as_autonormal_and_pyro_svi_agrees():
    # Real-valued other sites, where TraceMeanField_ELBO's KL(Delta || prior) is
    # exact too (it drops the autoguides' log-Jacobian, which is 0 here).
    def mixed():
        mu = pyro.sample("mu", dist.Normal(torch.tensor(0.0, dtype=F64), 1.0))
        log_sd = pyro.sample("log_sd", dist.Normal(torch.tensor(-1.0, dtype=F64), 0.5))
        with pyro.plate("units", 4):
            z = pyro.sample("z", RectifiedNormal(mu.expand(4), log_sd.exp().expand(4)))
        pyro.sample("x", dist.Normal(z.sum(-1), 0.5), obs=torch.tensor(0.4, dtype=F64))

    paths = []
    for engine in ("pyro", "local"):
        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        guide = AutoRectifiedNormal(mixed)
        guide()
        pyro.set_rng_seed(1)
        if engine == "pyro":
            svi = SVI(mixed, guide, pyro.optim.Adam({"lr": 0.05}), TraceMeanField_ELBO())
            losses = [svi.step() for _ in range(5)]
        else:
            # seed=1 draws what pyro.set_rng_seed(1) makes Pyro's SVI draw
            svi = LocalSVI(mixed, guide, optim_args={"lr": 0.05}, seed=1)
            losses = [svi.step().loss for _ in range(5)]
        paths.append((losses, {k: v.detach().clone() for k, v in guide.named_parameters()}))
    assert paths[1][0] == pytest.approx(paths[0][0], rel=1e-6)
    assert set(paths[0][1]) == {
        f"{kind}.{site}_unconstrained"
        for kind in ("locs", "scales")
        for site in ("mu", "log_sd", "z")
    }
    for name, value in paths[0][1].items():
        torch.testing.assert_close(paths[1][1][name], value)
    median = guide.median()
    assert median["z"].shape == (4,) and (median["z"] >= 0).all()
    torch.testing.assert_close(median["mu"], guide.locs.mu.detach())
