"""The rules' configuration, errors, both engine modes, and Pyro's Predictive."""

import pyro
import pytest
import torch
from pyro.infer import Predictive

from pyro_local.infer import LocalSVI
from pyro_local.nn import LLS, SVP, ContSup, GreedyHeads, local_net, predict
from pyro_local.nn.features import pool_features, pooled_dim
from pyro_local.nn.rules.contsup import ContextEncoder
from pyro_local.nn.rules.heads import ConvHead
from pyro_local.nn.rules.lls import LLSHead
from pyro_local.nn.rules.svp import SVPHead

from .nets import NUM_CLASSES, images, tiny_conv, tiny_net


@pytest.mark.parametrize("make,match", [
    (lambda: GreedyHeads("mlp"), "kind"),
    (lambda: LLS(waveform="triangle"), "waveform"),
    (lambda: LLS(variant="mm"), "variant"),
    (lambda: SVP(noise="dropout"), "noise"),
    (lambda: SVP(readout="mlp"), "readout"),
    (lambda: ContSup(input=False, residual=0), "input=True or residual"),
    (lambda: ContSup(residual=-1), "residual"),
    (lambda: SVPHead(None, (6,), 3, proj_dim=1), "proj_dim"),
    (lambda: SVPHead(None, (6,), 3, proj_dim=5, readout="identity"), "proj_dim == num_classes"),
    (lambda: SVPHead(None, (6,), 3, noise_scale=-1.0), "noise_scale"),
    (lambda: LLSHead((6,), 3, temperature=0.0), "temperature"),
    (lambda: LLSHead((6,), 3, pool=0), "pool"),
    (lambda: ConvHead((6,), 3), "feature maps"),
    (lambda: ContextEncoder((4, 5), (6,)), "ContextEncoder"),
])
def test_bad_configuration_raises_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_greedy_heads_default_to_conv_on_feature_maps_and_linear_elsewhere():
    from pyro_local.nn.rules.heads import LinearHead

    stack = tiny_conv()  # conv1-3 give feature maps, fc1 a vector

    def heads(kind):
        net = local_net(stack, GreedyHeads(*kind))
        return {name: type(net.get_submodule(name).head) for name in stack.names}

    assert heads(()) == {"conv1": ConvHead, "conv2": ConvHead, "conv3": ConvHead,
                         "fc1": LinearHead}
    assert set(heads(("linear",)).values()) == {LinearHead}


def test_pooling_shapes():
    a = torch.randn(2, 3, 8, 8)
    assert pool_features(a, 2).shape == (2, 12) and pooled_dim((3, 8, 8), 2) == 12
    assert pool_features(a, None).shape == (2, 192)
    assert pool_features(torch.randn(2, 5, 4), None).shape == (2, 4)  # tokens: mean
    torch.testing.assert_close(pool_features(a, 1), a.mean((2, 3)))


@pytest.mark.parametrize("rule", ["svp", "contsup-r2e-svp", "lls-m"])
def test_fused_and_sequential_take_the_same_steps(rule):
    x, y = images()
    params = []
    for mode in ("fused", "sequential"):
        net = tiny_net(rule)
        svi = LocalSVI(net, mode=mode, optim_args={"lr": 0.01})
        pyro.set_rng_seed(4)  # the same noise draws, in the same order, in both modes
        for _ in range(3):
            svi.step(x, y)
        params.append({k: v.detach().clone() for k, v in net.named_parameters()})
    for k in params[0]:
        torch.testing.assert_close(params[0][k], params[1][k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rule", ["svp", "contsup-e"])
def test_whole_network_model_works_with_predictive(rule):
    x, _ = images(n=4)
    net = tiny_net(rule)
    net.eval()
    samples = Predictive(net.model, guide=net.guide, num_samples=3,
                         return_sites=["output.y"])(x)
    assert samples["output.y"].shape == (3, 4)
    assert samples["output.y"].max() < NUM_CLASSES


def test_predict_turns_svp_noise_off():
    x, _ = images(n=4)
    stack = tiny_conv()
    net = local_net(stack, SVP(noise_scale=0.5))
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(predict(net, x), predict(net, x))
        h = x
        for name in net.names[:-1]:
            h = net.stage_model(name).block(h)
        torch.testing.assert_close(predict(net, x), net.output.classifier(h))
        # The layers share the stack's modules: the trained stack is the network.
        torch.testing.assert_close(predict(net, x), stack(x))


@pytest.mark.parametrize("rule", ["svp", "lls", "contsup-e"])
def test_num_data_scales_every_objective_to_the_data_set(rule):
    from pyro_local.nn import backprop_net

    from .nets import RULES

    x, y = images(n=8)
    heads, context = RULES[rule]
    losses = []
    for num_data in (None, 100):
        net = local_net(tiny_conv(), heads, context, num_data=num_data)
        pyro.set_rng_seed(0)
        losses.append(LocalSVI(net).layer_losses(x, y))
    for name, loss in losses[0].items():
        assert float(losses[1][name].detach()) == pytest.approx(100 / 8 * float(loss.detach()),
                                                                rel=1e-5)
    plain = LocalSVI(backprop_net(tiny_conv())).layer_losses(x, y)["net"]
    scaled = LocalSVI(backprop_net(tiny_conv(), num_data=100)).layer_losses(x, y)["net"]
    assert float(scaled.detach()) == pytest.approx(100 / 8 * float(plain.detach()), rel=1e-5)
    with pytest.raises(ValueError, match="num_data"):
        local_net(tiny_conv(), heads, num_data=0)
