"""No gradient from one layer's objective reaches another layer's parameters."""

import pytest
import torch

from pyro_local.infer import LocalSVI
from pyro_local.infer.ownership import LayerLeakError
from pyro_local.nn import ContSup, GreedyHeads, local_net

from .nets import RULES, images, tiny_mlp, tiny_net, vectors


def _module_params(net, name):
    return {f"net.{name}.{n}" for n, p in net.stage_model(name).named_parameters()}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_objective_reaches_only_its_own_layer(rule):
    net = tiny_net(rule)
    x, y = images()
    svi = LocalSVI(net)
    losses = svi.layer_losses(x, y)  # strict ownership check passed on init
    assert list(losses) == list(net.names)
    all_params = dict(net.named_parameters())
    for name, loss in losses.items():
        grads = torch.autograd.grad(loss, list(all_params.values()), retain_graph=True,
                                    allow_unused=True)
        reached = {f"net.{n}" for n, g in zip(all_params, grads) if g is not None}
        own = _module_params(net, name)
        # Every parameter the loss reaches is the layer's own, and it reaches them all
        # (a head's or encoder's parameter left out would never be trained).
        assert reached == own, (name, reached ^ own)
        assert set(svi.layer_params[name]) == own


@pytest.mark.parametrize("rule", ["contsup-e", "contsup-r1", "contsup-r2e-svp"])
def test_context_encoders_belong_to_the_module_they_feed(rule):
    net = tiny_net(rule)
    svi = LocalSVI(net)
    svi.init(*images())
    names = net.names
    assert net.stage_model(names[0]).context is None
    for name in names[1:]:
        encoders = {f"net.{name}.context.{n}" for n, _ in
                    net.stage_model(name).context.named_parameters()}
        assert encoders and encoders <= set(svi.layer_params[name])


def test_a_shared_encoder_is_a_leak():
    # Negative control: hand layer 3 the context path of layer 2; both losses now
    # reach its encoder and the engine must refuse.
    net = local_net(tiny_mlp(hidden=(5, 5, 5)), GreedyHeads(), ContSup(input=True))
    net.fc3.context = net.fc2.context
    with pytest.raises(LayerLeakError, match="context"):
        LocalSVI(net).init(*vectors())


def test_a_shared_head_is_a_leak():
    net = local_net(tiny_mlp(hidden=(5, 5, 5)), GreedyHeads())
    net.fc3.head = net.fc2.head
    with pytest.raises(LayerLeakError, match="head"):
        LocalSVI(net).init(*vectors())


@pytest.mark.parametrize("rule", ["svp", "lls-mxm", "contsup-r2e-svp"])
def test_sequential_step_moves_each_layer_by_its_own_loss(rule):
    # One sequential step equals, layer by layer, an Adam step on that layer's own
    # loss gradient: compare the step against a manual per-layer update.
    x, y = images()
    net = tiny_net(rule)
    svi = LocalSVI(net, mode="sequential", optim_args={"lr": 0.01})
    svi.init(x, y)
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    svi.rng.manual_seed(3)  # the engine draws from its own stream
    losses = svi.layer_losses(x, y)
    grads = {}
    for name, loss in losses.items():
        params = svi.parameters(name)
        for p, g in zip(params, torch.autograd.grad(loss, params, retain_graph=True)):
            grads[id(p)] = g
    svi.rng.manual_seed(3)
    net_ref = dict(net.named_parameters())
    svi.step(x, y)
    for n, p in net_ref.items():
        g = grads[id(p)]
        moved = not torch.equal(p.detach(), before[n])
        assert moved == bool(g.abs().max() > 0), n
        # Adam's first step moves each coordinate by lr * g / (|g| + 1e-8): lr * sign(g)
        # where |g| >> 1e-8 (a conv bias before batch norm has gradients near 0).
        big = g.abs() > 1e-5
        step = (before[n] - p.detach())[big]
        torch.testing.assert_close(step, 0.01 * g[big].sign(), rtol=1e-3, atol=1e-6)
