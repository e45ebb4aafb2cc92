"""RectifiedHierarchy and its guides: sites, layers, sparsity, gradients, batch norm."""

import pyro
import pytest
import torch
from pyro import poutine
from pyro.distributions.kl import kl_divergence
from pyro.infer import TraceMeanField_ELBO
from scipy.stats import norm

from pyro_local.distributions import RectifiedNormal
from pyro_local.guides import (
    GaussianEncoderGuide,
    MeanFieldRectifiedGuide,
    StructuredRectifiedGuide,
)
from pyro_local.guides.structured_rectified import precision_weighted
from pyro_local.infer import LocalELBO, LocalSVI
from pyro_local.infer.traces import get_traces
from pyro_local.models import GaussianVAE, RectifiedHierarchy
from pyro_local.poutine.layer_messenger import site_layer

# A normal z-score beyond this has probability 1e-4 (two-sided): the bound for Monte
# Carlo frequency checks (fixed seeds make each test deterministic).
Z_BOUND = norm.ppf(1 - 0.5e-4)


def small(guide_cls=StructuredRectifiedGuide, likelihood="bernoulli", seed=0, **kwargs):
    torch.manual_seed(seed)
    model = RectifiedHierarchy(
        x_dim=12, latent_dims=(6, 4, 3), hidden_dims=(8, 8, 8), likelihood=likelihood
    )
    return model, guide_cls(model, **kwargs)


def binary(n=16, d=12, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, d), 0.4), generator=g)


def test_sites_shapes_and_layers():
    model, guide = small()
    x = binary()
    model_trace, guide_trace = get_traces(model, guide, (x,), {})
    for name, width in zip(("z1", "z2", "z3"), (6, 4, 3)):
        site = model_trace.nodes[name]
        assert site["value"].shape == (16, width)
        assert site_layer(site) == name
        fn = guide_trace.nodes[name]["fn"]
        assert isinstance(fn.base_dist, RectifiedNormal) and fn.event_shape == (width,)
    assert site_layer(model_trace.nodes["x"]) == "x"
    assert model.latent_names == ("z1", "z2", "z3")
    losses = LocalELBO().layer_losses(model, guide, x)
    assert list(losses) == ["z3", "z2", "z1", "x"]


def test_default_configuration():
    model = RectifiedHierarchy()
    assert model.latent_dims == (300, 200, 100, 50)
    assert model.hidden_dims == (512, 256, 128, 64)
    guide = StructuredRectifiedGuide(model)
    # The guide uses the model's top-down networks without owning them.
    own = {id(p) for p in guide.parameters()}
    assert not own & {id(p) for p in model.parameters()}


def test_sampling_from_the_model():
    model, _ = small()
    trace = poutine.trace(model).get_trace(batch_size=5)
    assert trace.nodes["x"]["value"].shape == (5, 12)
    assert set(trace.nodes["x"]["value"].unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"latent_dims": ()}, ValueError, "latent_dims"),
        ({"latent_dims": (3, 0)}, ValueError, "latent_dims"),
        ({"latent_dims": 3}, TypeError, "latent_dims"),
        ({"latent_dims": (3, 2), "hidden_dims": (4,)}, ValueError, "hidden_dims"),
        ({"likelihood": "poisson"}, ValueError, "likelihood"),
        ({"min_scale": 0.0}, ValueError, "min_scale"),
    ],
)
def test_invalid_configuration(kwargs, error, match):
    with pytest.raises(error, match=match):
        RectifiedHierarchy(**kwargs)


def test_invalid_data():
    model, guide = small()
    with pytest.raises(ValueError, match=r"x: expected a tensor of shape \(batch, 12\)"):
        model(torch.zeros(4, 1, 12))
    with pytest.raises(ValueError, match="binary"):
        model(torch.full((4, 12), 0.5))
    with pytest.raises(ValueError, match="batch_size"):
        model()
    with pytest.raises(TypeError, match="RectifiedHierarchy"):
        StructuredRectifiedGuide(GaussianVAE(x_dim=12))
    with pytest.raises(TypeError, match="GaussianVAE"):
        GaussianEncoderGuide(model)


@pytest.mark.parametrize("likelihood", ["gaussian", "continuous_bernoulli"])
def test_other_likelihoods(likelihood):
    model, guide = small(likelihood=likelihood)
    x = torch.rand(16, 12)
    losses = LocalELBO().layer_losses(model, guide, x)
    assert all(torch.isfinite(v) for v in losses.values())
    if likelihood == "gaussian":
        grad = torch.autograd.grad(losses["x"], model.observation.raw_scale)[0]
        assert grad.abs().sum() > 0


def _frequency_z(indicator, prob):
    """z-score of the mean of indicator - prob (independent draws, variance p(1-p))."""
    n = indicator.numel()
    diff = (indicator.double() - prob.double()).sum()
    return float(diff / (prob.double() * (1 - prob.double())).sum().sqrt()), n


def test_prior_latents_are_exactly_zero_with_the_models_probability():
    # Ancestral draws: each unit is exactly 0 with probability Phi(-loc / scale) given
    # the layer above. The indicators minus these probabilities are independent
    # given the conditioning, with variances p(1-p): a normal z-score.
    model, _ = small()
    with torch.no_grad():
        trace = poutine.trace(model).get_trace(batch_size=20000)
    for name in model.latent_names:
        site = trace.nodes[name]
        z = site["value"]
        zeros = z == 0
        positive = z[~zeros]
        assert positive.min() > 0  # no tiny values: zeros are exact or absent
        prob = site["fn"].base_dist.prob_zero.expand_as(z)
        score, _ = _frequency_z(zeros, prob)
        assert abs(score) < Z_BOUND, (name, score)
        assert 0.05 < float(zeros.double().mean()) < 0.95  # a real atom and a real slab


@pytest.mark.parametrize("guide_cls", [StructuredRectifiedGuide, MeanFieldRectifiedGuide])
def test_posterior_latents_are_exactly_zero_with_the_guides_probability(guide_cls):
    model, guide = small(guide_cls)
    x = binary(n=4000)
    with torch.no_grad():
        trace = poutine.trace(guide).get_trace(x)
    for name in model.latent_names:
        site = trace.nodes[name]
        prob = site["fn"].base_dist.prob_zero
        score, _ = _frequency_z(site["value"] == 0, prob)
        assert abs(score) < Z_BOUND, (name, score)


@pytest.mark.parametrize(
    "make",
    [
        lambda: small(StructuredRectifiedGuide),
        lambda: small(MeanFieldRectifiedGuide),
        lambda: (lambda m: (m, GaussianEncoderGuide(m, hidden_dims=(8,))))(
            GaussianVAE(x_dim=12, z_dim=3, hidden_dims=(8,))
        ),
    ],
    ids=["structured", "mean_field", "gaussian_vae"],
)
def test_local_svi_gradients_equal_trace_mean_field_elbo(make):
    model, guide = make()
    x = binary()
    svi = LocalSVI(model, guide, strict=False, optim=torch.optim.Adamax)
    params = [p for m in (model, guide) for p in m.parameters()]
    svi.rng.manual_seed(3)  # the engine draws from its own stream
    losses = svi.layer_losses(x)
    ours = torch.autograd.grad(sum(losses.values()), params)
    pyro.set_rng_seed(3)
    loss = TraceMeanField_ELBO().differentiable_loss(model, guide, x)
    theirs = torch.autograd.grad(loss, params)
    total = float(sum(losses.values()).detach())
    assert total == pytest.approx(float(loss.detach()), rel=1e-6)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # Each latent layer's loss is its closed-form KL given the sampled layer above,
    # and layer "x" is minus the expected log-likelihood, at the same draws.
    pyro.set_rng_seed(3)
    model_trace, guide_trace = get_traces(model, guide, (x,), {})
    for name in model.latent_names:
        kl = kl_divergence(guide_trace.nodes[name]["fn"], model_trace.nodes[name]["fn"])
        torch.testing.assert_close(losses[name].detach(), kl.sum().detach())
    log_lik = model_trace.nodes["x"]["fn"].log_prob(x).sum()
    torch.testing.assert_close(losses["x"].detach(), -log_lik.detach())


def test_joint_training_takes_adamax_steps():
    model, guide = small()
    x = binary()
    svi = LocalSVI(model, guide, strict=False, optim=torch.optim.Adamax, optim_args={"lr": 0.01})
    first = svi.step(x)
    for _ in range(20):
        last = svi.step(x)
    assert set(first.layer_losses) == {"x", "z1", "z2", "z3"}
    assert last.loss < first.loss
    assert all(isinstance(o, torch.optim.Adamax) for o in svi.optimizers.values())


def test_precision_weighted_combination():
    loc_a, scale_a = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0])
    loc_b, scale_b = torch.tensor([3.0, 0.0]), torch.tensor([1.0, 1e6])
    loc, scale = precision_weighted(loc_a, scale_a, loc_b, scale_b)
    prec = scale_a**-2 + scale_b**-2
    torch.testing.assert_close(scale, prec**-0.5)
    torch.testing.assert_close(loc, (loc_a * scale_a**-2 + loc_b * scale_b**-2) / prec)
    # An uninformative factor leaves the first normal unchanged.
    assert float(loc[1]) == pytest.approx(-2.0, abs=1e-9)
    assert float(scale[1]) == pytest.approx(2.0, rel=1e-9)


def test_uninformative_encoder_gives_the_prior_and_zero_kl():
    # With huge encoder scales, q(z_l | z_{l+1}, x) is the model's conditional and
    # every latent layer's KL vanishes: the prior fallback of the structured guide.
    model, guide = small()
    with torch.no_grad():
        for head in guide.encoder.heads:
            d = head.linear.out_features // 2
            head.linear.bias[d:].fill_(1e4)
    with torch.no_grad():
        losses = LocalELBO().layer_losses(model, guide, binary())
    for name in model.latent_names:
        assert abs(float(losses[name])) < 1e-4


def test_batch_norm_train_and_eval_modes():
    model, guide = small()
    x = binary(n=32)
    guide.train()
    first = guide.encoder(x)[0][0][:4]
    alone = guide.encoder(x[:4])[0][0]
    assert not torch.allclose(first, alone)  # batch statistics: depends on batch-mates
    guide.eval()
    first = guide.encoder(x)[0][0][:4]
    alone = guide.encoder(x[:4])[0][0]
    torch.testing.assert_close(first, alone)  # running statistics: a function of x alone


def test_guide_broadcasts_over_particles():
    model, guide = small()
    x = binary(n=5)
    with pyro.plate("particles", 7, dim=-2):
        guide_trace = poutine.trace(guide).get_trace(x)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x)
    assert guide_trace.nodes["z1"]["value"].shape == (7, 5, 6)
    model_trace.compute_log_prob()
    assert model_trace.nodes["x"]["log_prob"].shape == (7, 5)
