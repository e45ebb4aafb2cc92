"""Draws scored under the model, checked against closed forms."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import scipy.stats
import torch

from pyro_local.diagnostics import collect_draws
from pyro_local.poutine.layer_messenger import GLOBAL

from .conjugate import LinearRegression, NormalMeans


@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
def test_exact_guide_weights_equal_marginal_likelihood(parallel):
    # With q equal to the posterior, log p(x, w) - log q(w) = log p(x) for every draw.
    problem = LinearRegression()
    X, y = problem.tensors()
    draws = collect_draws(problem.model, problem.guide(), X, y, num_samples=50,
                          parallel=parallel, chunk_size=20)
    log_weight = sum(draws.log_joint.values()) - sum(draws.log_q.values())
    assert log_weight.shape == (50,)
    np.testing.assert_allclose(log_weight.numpy(), problem.log_marginal(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
def test_log_densities_match_scipy(parallel):
    problem = LinearRegression(layer="regression")
    X, y = problem.tensors()
    guide_scale = 1.5
    draws = collect_draws(problem.model, problem.guide(scale=guide_scale), X, y,
                          num_samples=30, parallel=parallel)
    w = draws.latent["w"].numpy()
    assert w.shape == (30, 2)
    # The latent site carries the layer name; the observed site lies outside any layer.
    assert set(draws.log_joint) == {"regression", GLOBAL}
    prior = scipy.stats.multivariate_normal(np.zeros(2), np.eye(2) / problem.alpha)
    q = scipy.stats.multivariate_normal(problem.mean, guide_scale**2 * problem.cov)
    pointwise = scipy.stats.norm(w @ problem.X.T, problem.sigma).logpdf(problem.y)
    np.testing.assert_allclose(draws.log_joint["regression"], prior.logpdf(w), atol=1e-10)
    np.testing.assert_allclose(draws.log_joint[GLOBAL], pointwise.sum(1), atol=1e-10)
    np.testing.assert_allclose(draws.log_q["regression"], q.logpdf(w), atol=1e-10)
    np.testing.assert_allclose(draws.log_q[GLOBAL], 0.0)
    np.testing.assert_allclose(draws.log_likelihood["y"], pointwise, atol=1e-10)
    np.testing.assert_array_equal(draws.observed["y"], problem.y)
    assert draws.plates["y"] == ("data",)


def test_layer_names_come_from_the_model_not_the_guide():
    # Pyro's replay would overwrite the model's infer dict with the guide's, which has
    # no layer name here; the draws must still charge both p and q of "mu" to "top".
    problem = NormalMeans(dim=3)

    def model(y):
        problem.model(y, layer="top")

    def guide(y):
        problem.guide(y)

    draws = collect_draws(model, guide, problem.y, num_samples=5)
    assert set(draws.log_joint) == set(draws.log_q) == {"top"}
    mu = draws.latent["mu"].numpy()
    expected = scipy.stats.norm(problem.post_mean, problem.post_scale).logpdf(mu).sum(1)
    np.testing.assert_allclose(draws.log_q["top"], expected, atol=1e-10)


def test_posterior_predictive_matches_closed_form():
    # Replicated y_i given w ~ q is N(x_i m, sigma^2 + x_i S x_i) under the exact guide.
    problem = LinearRegression()
    X, y = problem.tensors()
    n = 4000
    draws = collect_draws(problem.model, problem.guide(), X, y, num_samples=n, parallel=True)
    replicated = draws.predictive["y"].numpy()
    mean = problem.X @ problem.mean
    var = problem.sigma**2 + np.einsum("ij,jk,ik->i", problem.X, problem.cov, problem.X)
    z = (replicated.mean(0) - mean) / np.sqrt(var / n)
    # 12 independent z-scores: all below 4 standard errors fails with probability ~1e-3.
    assert np.abs(z).max() < 4


def test_large_sites_are_summarised_and_kept_sites_thinned():
    problem = NormalMeans(dim=6, num_data=3)
    n, thin = 3000, 7
    draws = collect_draws(problem.model, problem.guide, problem.y, num_samples=n,
                          max_site_size=5, thin=thin, parallel=True, chunk_size=1000)
    assert draws.latent == {}  # "mu" has 6 elements > max_site_size
    mean, sd, p_zero = draws.latent_summary["mu"].numpy()
    # Standard error of a sample mean is s / sqrt(n), of a sample sd about s / sqrt(2n).
    s = problem.post_scale
    assert np.abs(mean - problem.post_mean.numpy()).max() < 4 * s / math.sqrt(n)
    assert np.abs(sd - s).max() < 4 * s / math.sqrt(2 * n)
    np.testing.assert_array_equal(p_zero, 0.0)  # a continuous guide has no atom
    # A subset of its elements is kept draw by draw, thinned like the kept sites.
    index, values = draws.latent_subset["mu"]
    assert values.shape == (len(range(0, n, thin)), 6) and index.tolist() == list(range(6))
    assert draws.predictive["mu_y"].shape == (len(range(0, n, thin)), 3, 6)
    assert draws.log_likelihood["mu_y"].shape == (n, 3, 6)
    assert draws.plates["mu_y"] == ("mu_data", "mu_groups")

    kept = collect_draws(problem.model, problem.guide, problem.y, num_samples=20,
                         sites=["mu"], thin=3)
    assert kept.latent["mu"].shape == (7, 6) and kept.latent_summary == {}


def test_summarised_sites_count_exact_zeros_and_keep_a_subset():
    # A rectified latent: P(z = 0) = Phi(-loc / scale) per element.
    from pyro_local.distributions import RectifiedNormal

    loc = torch.linspace(-1.0, 1.0, 40)

    def model():
        pyro.sample("z", RectifiedNormal(torch.zeros(40), 1.0).to_event(1))
        pyro.sample("y", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    def guide():
        pyro.sample("z", RectifiedNormal(loc, 1.0).to_event(1))

    n = 4000
    draws = collect_draws(model, guide, num_samples=n, max_site_size=10, subset_size=5,
                          parallel=True)
    p_zero = draws.latent_summary["z"][2].numpy()
    expected = scipy.stats.norm.cdf(-loc.numpy())
    se = np.sqrt(expected * (1 - expected) / n)
    assert np.abs(p_zero - expected).max() < 4.5 * se.max()
    index, values = draws.latent_subset["z"]
    assert index.tolist() == [0, 10, 20, 29, 39] and values.shape == (n, 5)
    # max(0, N(0, 1)) has mean phi(0) and variance 1/2 - phi(0)^2.
    phi0 = scipy.stats.norm.pdf(0.0)
    assert draws.facts["z"] == pytest.approx(
        {"distribution": "RectifiedNormal", "prior_mean": phi0, "prior_sd": (0.5 - phi0**2) ** 0.5})
    assert draws.latent_sizes == {GLOBAL: 40}


def test_a_model_that_does_not_broadcast_gives_a_value_error():
    # The issue: parallel=True on a model that does not broadcast over the plate of draws
    # raised torch's raw RuntimeError; the docs promise a ValueError saying what to do.
    X = torch.randn(5, 3)

    def model(X):
        w = pyro.sample("w", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        with pyro.plate("data", 5):
            pyro.sample("y", dist.Normal(X @ w, 1.0), obs=torch.zeros(5))

    def guide(X):
        pyro.sample("w", dist.Normal(torch.zeros(3), 0.5).to_event(1))

    with pytest.raises(ValueError, match="does not broadcast.*use parallel=False"):
        collect_draws(model, guide, X, num_samples=10, parallel=True)
    assert collect_draws(model, guide, X, num_samples=10).num_samples == 10


def test_deterministic_sites_are_kept():
    def model(y):
        mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
        pyro.deterministic("twice", 2 * mu)
        pyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    def guide(y):
        pyro.sample("mu", dist.Normal(0.5, 0.1))

    draws = collect_draws(model, guide, torch.tensor(0.3), num_samples=10)
    torch.testing.assert_close(draws.latent["twice"], 2 * draws.latent["mu"])
    assert list(draws.observed) == ["y"]


def test_guide_missing_a_latent_site_raises():
    def model():
        pyro.sample("a", dist.Normal(0.0, 1.0))
        pyro.sample("b", dist.Normal(0.0, 1.0))
        pyro.sample("y", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    def guide():
        pyro.sample("a", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match=r"does not sample \['b'\]"):
        collect_draws(model, guide, num_samples=2)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"num_samples": 0}, ValueError, "num_samples"),
    ({"num_samples": 2.5}, TypeError, "num_samples"),
    ({"thin": 0}, ValueError, "thin"),
    ({"sites": ["nope"]}, ValueError, "sites"),
    ({"sites": "mu"}, TypeError, "sites"),
    ({"obs_sites": ["mu"]}, ValueError, "obs_sites"),
    ({"chunk_size": 0}, ValueError, "chunk_size"),
])
def test_bad_arguments(kwargs, error, match):
    problem = NormalMeans(dim=2)
    with pytest.raises(error, match=match):
        collect_draws(problem.model, problem.guide, problem.y, **kwargs)


@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
def test_autoguide_with_auxiliary_latent(parallel):
    # AutoMultivariateNormal samples an auxiliary "_..._latent" site and Delta sites that
    # carry the log-Jacobian; set to the exact posterior, its weights are again log p(x).
    from pyro.infer.autoguide import AutoMultivariateNormal

    problem = LinearRegression()
    X, y = problem.tensors()
    guide = AutoMultivariateNormal(problem.model)
    guide(X, y)  # creates the parameters
    tril = torch.linalg.cholesky(torch.tensor(problem.cov))
    guide.loc = torch.nn.Parameter(torch.tensor(problem.mean))
    guide.scale = tril.diagonal()
    guide.scale_tril = tril / tril.diagonal()[:, None]
    draws = collect_draws(problem.model, guide, X, y, num_samples=20, parallel=parallel)
    log_weight = sum(draws.log_joint.values()) - sum(draws.log_q.values())
    np.testing.assert_allclose(log_weight.numpy(), problem.log_marginal(), atol=1e-9)
    assert set(draws.latent) == {"w"}


@pytest.mark.parametrize("device", [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.cuda),
])
@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
def test_draws_from_a_model_on_any_device_come_back_on_the_cpu(device, parallel):
    y = torch.randn(6, device=device)

    def model(y):
        mu = pyro.sample("mu", dist.Normal(torch.tensor(0.0, device=device), 1.0))
        with pyro.plate("data", len(y)):
            pyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    def guide(y):
        pyro.sample("mu", dist.Normal(torch.tensor(0.2, device=device), 0.5))

    draws = collect_draws(model, guide, y, num_samples=8, parallel=parallel)
    tensors = [draws.latent["mu"], draws.predictive["y"], draws.log_likelihood["y"],
               draws.observed["y"], *draws.log_joint.values(), *draws.log_q.values()]
    assert all(t.device.type == "cpu" for t in tensors)
    expected = scipy.stats.norm(0.2, 0.5).logpdf(draws.latent["mu"].numpy())
    np.testing.assert_allclose(draws.log_q[GLOBAL], expected, rtol=1e-5)
