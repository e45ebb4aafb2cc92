"""Bayesian MLP, LeNet-5 and regressor: Pyro SVI, LocalSVI (global, and local heads
in both modes), Predictive (sequential and vectorized)."""

import pytest
import torch
from pyro.infer import SVI, Predictive, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoNormal
from pyro.optim import Adam

from pyro_local.guides import AutoMatrixNormal, AutoMeanFieldNormal, InitScales
from pyro_local.infer import LocalSVI
from pyro_local.models import BayesianClassifier, bayes_lenet5, bayes_mlp, predictive_probs
from pyro_local.models.architectures import BayesianLeNet5, BayesianMLP, BayesianRegressor
from pyro_local.nn import GreedyHeads, local_net, local_reparameterization


def _images(n=6):
    return torch.randn(n, 1, 28, 28), torch.randint(0, 10, (n,))


def _vectors(n=6):
    return torch.randn(n, 12), torch.randint(0, 3, (n,))


def _small_lenet(**kwargs):
    return BayesianLeNet5(channels=(2, 3), hidden=(8,), num_data=100, **kwargs)


CASES = {
    "mlp": (lambda: BayesianMLP(12, [7, 5], 3, num_data=100), _vectors, 3),
    "lenet5": (_small_lenet, _images, 10),
}


@pytest.mark.parametrize("arch", CASES)
@pytest.mark.parametrize("guide_cls", [AutoMatrixNormal, AutoMeanFieldNormal, AutoNormal])
def test_pyro_svi_and_predictive(arch, guide_cls):
    make, data, num_classes = CASES[arch]
    model = make()
    guide = guide_cls(model)
    x, y = data()
    svi = SVI(model, guide, Adam({"lr": 1e-2}), TraceMeanField_ELBO())
    with local_reparameterization():
        losses = [svi.step(x, y) for _ in range(2)]
    assert all(torch.isfinite(torch.tensor(losses)))
    for parallel in (False, True):
        predictive = Predictive(
            model, guide=guide, num_samples=3, parallel=parallel, return_sites=["_RETURN"]
        )
        assert predictive(x)["_RETURN"].shape == (3, x.shape[0], num_classes)
    probs = predictive_probs(model, guide, x, num_samples=3, batch_size=4)
    assert probs.shape == (3, x.shape[0], num_classes)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, x.shape[0]))
    local = predictive_probs(model, guide, x, num_samples=2, local=True)
    assert local.shape == (2, x.shape[0], num_classes)


@pytest.mark.slow
def test_local_svi_global_elbo_learns():
    """One global ELBO through LocalSVI: a linearly separable toy problem is learned."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 12, generator=g)
    y = x[:, :3].argmax(-1)
    model = BayesianMLP(12, [16], 3, num_data=500)
    guide = AutoMatrixNormal(model, init_scales=InitScales(row=0.3, column=0.3))
    svi = LocalSVI(model, guide, optim_args={"lr": 0.05})
    with local_reparameterization():
        for _ in range(100):
            info = svi.step(x, y)
    assert set(info.layer_losses) == {"global"}
    probs = predictive_probs(model, guide, x, num_samples=10).mean(0)
    # Chance is 1/3; 95% is reached (measured), 0.85 leaves a margin for the seed.
    assert (probs.argmax(-1) == y).double().mean() > 0.85


@pytest.mark.parametrize("mode", ["fused", "sequential"])
@pytest.mark.parametrize("arch", ["mlp", "lenet5"])
def test_local_heads(mode, arch):
    if arch == "mlp":
        stack, (x, y), num_classes = bayes_mlp(12, [7, 5], 3), _vectors(), 3
    else:
        stack = bayes_lenet5(channels=(2, 3), hidden=(8,))
        (x, y), num_classes = _images(), 10
    net = local_net(stack, GreedyHeads("linear"), num_data=100, guide_builder=AutoMatrixNormal)
    svi = LocalSVI(net, mode=mode, optim_args={"lr": 1e-2})
    with local_reparameterization():
        info = svi.step(x, y)
    names = [*stack.names, "output"]
    assert list(info.layer_losses) == names
    # Each layer owns its weights' posterior and its head, nothing else.
    for name in names:
        params = svi.layer_params[name]
        assert params and all(p.startswith(f"net.{name}") for p in params)
    # LocalNet.guide runs the layers' models inside it: sequential draws only.
    probs = predictive_probs(net.model, net.guide, x, num_samples=2, parallel=False)
    assert probs.shape == (2, x.shape[0], num_classes)


@pytest.mark.slow
def test_regressor_learns_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 2, generator=g)
    y = x.sum(-1, keepdim=True) + 0.1 * torch.randn(100, 1, generator=g)
    model = BayesianRegressor(2, [8], num_data=100, init_noise=1.0)
    guide = AutoMatrixNormal(model)
    svi = LocalSVI(model, guide, optim_args={"lr": 0.02})
    with local_reparameterization():
        for _ in range(100):
            svi.step(x, y)
    assert model.noise.item() < 0.7  # moved from 1.0 towards the true 0.1
    mean = Predictive(model, guide=guide, num_samples=4, parallel=True, return_sites=["_RETURN"])(
        x
    )["_RETURN"]
    assert mean.shape == (4, 100, 1)


def test_argument_errors():
    with pytest.raises(ValueError, match="sizes"):
        BayesianMLP(12, [0], 3)
    with pytest.raises(ValueError, match="num_data"):
        BayesianMLP(12, [4], 3, num_data=0)
    with pytest.raises(ValueError, match="too small"):
        BayesianLeNet5(in_shape=(1, 8, 8))
    with pytest.raises(TypeError, match="stack"):
        BayesianClassifier([bayes_mlp(4, [3], 2)])
    with pytest.raises(ValueError, match="bias"):
        BayesianMLP(12, [4], 3, bias="both")


def test_local_layers_with_pseudo_data_keep_their_own_parameters():
    # Every layer's pseudo-data parameters are named under its layer ("l1.block.layer.
    # pseudo.inputs", ...): layers of different widths never share them.
    net = local_net(bayes_mlp(12, [7, 5], 3, pseudo_data=4), GreedyHeads("linear"),
                    num_data=100, guide_builder=AutoMatrixNormal)
    x, y = _vectors(16)
    svi = LocalSVI(net, mode="sequential", strict=True)
    with local_reparameterization():
        info = svi.step(x, y)
    assert list(info.layer_losses) == ["l1", "l2", "output"]
    assert all(torch.isfinite(torch.tensor(v)) for v in info.layer_losses.values())
    pseudo = sorted(n for n, _ in net.named_parameters() if n.endswith("pseudo.inputs"))
    assert pseudo == ["l1.block.layer.pseudo.inputs", "l2.block.layer.pseudo.inputs",
                      "output.classifier.layer.pseudo.inputs"]
