"""A Bayesian layer with a local-rule head is a valid layer: matrix-normal blocks
trained by SVP (and the other rules) under LocalSVI, with no gradient crossing layers."""

import pyro
import pytest
import torch

from pyro_local.guides import AutoMatrixNormal
from pyro_local.infer import LocalSVI
from pyro_local.infer.local_elbo import get_traces
from pyro_local.nn import SVP, BayesLinear, GreedyHeads, Stack, local_net, local_reparameterization

from .nets import NUM_CLASSES

NUM_DATA = 200


def bayes_stack(seed=0):
    torch.manual_seed(seed)
    blocks = {
        "fc1": torch.nn.Sequential(BayesLinear(4, 6), torch.nn.ReLU()),
        "fc2": torch.nn.Sequential(BayesLinear(6, 5), torch.nn.ReLU()),
    }
    return Stack(blocks, torch.nn.Linear(5, NUM_CLASSES), (4,))


def matrix_normal_where_bayesian(model):
    if any(isinstance(m, BayesLinear) for m in model.modules()):
        return AutoMatrixNormal(model)
    return None  # the deterministic output layer has no latent sites


def data(n=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randint(NUM_CLASSES, (n,), generator=g)


@pytest.mark.parametrize("heads", [SVP(proj_dim=4, noise_scale=0.2), GreedyHeads("linear")],
                         ids=["svp", "greedy"])
@pytest.mark.parametrize("mode", ["fused", "sequential"])
def test_bayesian_blocks_train_under_a_local_rule(heads, mode):
    pyro.clear_param_store()
    x, y = data()
    net = local_net(bayes_stack(), heads, num_data=NUM_DATA,
                    guide_builder=matrix_normal_where_bayesian)
    # strict: a gradient from one layer's ELBO reaching another layer's parameters
    # raises (the engine's ownership check), so every step below proves locality.
    svi = LocalSVI(net, mode=mode, strict=True, optim_args={"lr": 1e-2})
    with local_reparameterization():
        losses = [svi.step(x, y).layer_losses for _ in range(30)]
    assert set(losses[0]) == {"fc1", "fc2", "output"}
    for name in ("fc1", "fc2"):
        assert all(torch.isfinite(torch.as_tensor(step[name])) for step in losses)
        first = sum(float(s[name]) for s in losses[:5])
        last = sum(float(s[name]) for s in losses[-5:])
        assert last < first, f"layer {name}'s local ELBO did not improve"


def test_each_bayesian_layer_carries_its_own_weight_kl():
    pyro.clear_param_store()
    x, y = data()
    net = local_net(bayes_stack(), SVP(proj_dim=4), num_data=NUM_DATA,
                    guide_builder=matrix_normal_where_bayesian)
    LocalSVI(net).step(x, y)  # initialise the guides
    model_tr, guide_tr = get_traces(net.model, net.guide, (x, y), {})
    weights = sorted(s for s, site in guide_tr.nodes.items()
                     if site["type"] == "sample" and s.endswith("weight"))
    # one matrix-normal weight per Bayesian layer, named under its layer
    assert [w.split(".")[0] for w in weights] == ["fc1", "fc2"], weights
    for w in weights:
        assert type(guide_tr.nodes[w]["fn"]).__name__ == "MatrixNormal"
        assert w in model_tr.nodes


def test_the_weight_guide_leaves_svp_activations_to_the_model():
    pyro.clear_param_store()
    x, y = data()
    net = local_net(bayes_stack(), SVP(proj_dim=4), num_data=NUM_DATA,
                    guide_builder=matrix_normal_where_bayesian)
    LocalSVI(net).step(x, y)
    guide = net.stage_guide("fc1")
    names = [n for n, _ in guide.named_parameters()]
    assert names and not any("noise" in n or ".z." in n for n in names), names
    # a different batch size runs: nothing in the guide is per data point
    LocalSVI(net).step(*data(n=7))
