"""The networks: shapes, depth, both training regimes, and the example's smoke run."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from pyro_local.infer import LocalSVI
from pyro_local.models import mlp, small_conv, small_vit, vgg8
from pyro_local.nn import LLS, SVP, GreedyHeads, Stack, backprop_net, local_net, predict

ROOT = Path(__file__).resolve().parents[2]


def _weight_layers(stack):
    return sum(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in stack.modules())


def test_small_conv_is_lls_smallconv():
    stack = small_conv()
    assert stack.names == ("conv1", "conv2", "conv3", "fc1")
    assert stack.shapes == {"conv1": (32, 28, 28), "conv2": (64, 14, 14),
                            "conv3": (128, 7, 7), "fc1": (512,)}
    assert stack.pools == {"conv1": 4, "conv2": 2, "conv3": 2, "fc1": None}
    assert stack.num_classes == 10 and _weight_layers(stack) == 5


def test_mlp_784_3x1024_10():
    stack = mlp()
    assert stack.shapes == {"fc1": (1024,), "fc2": (1024,), "fc3": (1024,)}
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in stack.modules()) == 3


@pytest.mark.parametrize("m", [1, 2])
def test_vgg8_and_its_deeper_variant(m):
    stack = vgg8(width=0.0625, depth_multiplier=m)
    assert _weight_layers(stack) == 6 * m + 2
    assert len(stack.names) == 6 * m + 1  # every layer but the classifier is a block
    shapes = list(stack.shapes.values())
    assert shapes[0][1:] == (28, 28) and shapes[-2][1:] == (3, 3) and shapes[-1] == (64,)


def test_vit_blocks_are_token_sequences():
    stack = small_vit(dim=16, depth=3, heads=2)
    assert stack.names == ("block1", "block2", "block3")
    assert all(s == (16, 16) for s in stack.shapes.values())  # 16 patches of 7x7


def test_stack_rejects_bad_input():
    with pytest.raises(ValueError, match="identifiers"):
        Stack({"1a": torch.nn.Identity()}, torch.nn.Linear(4, 2), (4,))
    with pytest.raises(ValueError, match="unknown blocks"):
        Stack({"a": torch.nn.Identity()}, torch.nn.Linear(4, 2), (4,), pools={"b": 2})
    with pytest.raises(TypeError, match="Stack"):
        local_net(torch.nn.Linear(2, 2), LLS())


@pytest.mark.parametrize("build,rule", [
    (lambda: small_vit(image_size=14, dim=16, depth=2, heads=2), SVP(proj_dim=None)),  # ViT: d0 = C
    (lambda: mlp((1, 14, 14), hidden=(32, 32)), LLS(variant="m")),
    (lambda: small_conv(image_size=14, width=0.125), GreedyHeads("conv")),
])
def test_local_and_backprop_training_reduce_the_loss(build, rule):
    # 30 steps of Adam on one fixed batch must fit it: the summed loss drops.
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 1, 14, 14, generator=g), torch.randint(0, 10, (16,), generator=g)
    for net in (local_net(build(), rule), backprop_net(build())):
        svi = LocalSVI(net, mode="sequential", optim_args={"lr": 1e-2})
        first = svi.step(x, y).layer_losses
        for _ in range(30):
            last = svi.step(x, y).layer_losses
        assert last[net.names[-1]] < 0.5 * first[net.names[-1]], (first, last)
        net.eval()
        with torch.no_grad():
            assert predict(net, x).shape == (16, 10)


def _example():
    path = ROOT / "examples" / "local_rules_fashion_mnist.py"
    spec = importlib.util.spec_from_file_location("local_rules_example", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_example_quick_mode(tmp_path):
    out = tmp_path / "r.json"
    results = _example().main(["--quick", "--no-progress", "--json", str(out), "--methods",
                               "backprop", "torch-backprop", "svp", "lls", "contsup"])
    assert out.is_file()
    assert [r["method"] for r in results] == ["backprop", "torch-backprop", "svp", "lls",
                                              "contsup"]
    for r in results:
        assert 0.0 <= r["final_test_accuracy"] <= 1.0 and r["saved_activation_mib"] > 0
    # Local rules save fewer activations than backprop in sequential mode.
    saved = {r["method"]: r["saved_activation_mib"] for r in results}
    assert saved["lls"] < saved["backprop"]


def test_backprop_net_takes_the_steps_of_plain_pytorch():
    # The reference is like for like: LocalSVI on backprop_net(stack) and a plain
    # PyTorch loop (summed cross-entropy, Adam) take the same steps.
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)
    torch.manual_seed(0)
    a = small_conv(width=0.125)
    torch.manual_seed(0)
    b = small_conv(width=0.125)
    svi = LocalSVI(backprop_net(a), optim_args={"lr": 1e-2})
    opt = torch.optim.Adam(b.parameters(), lr=1e-2)
    for _ in range(3):
        svi.step(x, y)
        torch.nn.functional.cross_entropy(b(x), y, reduction="sum").backward()
        opt.step()
        opt.zero_grad()
    # Every conv/linear bias inside a block sits right before batch norm: its gradient
    # is rounding noise (~1e-9), which Adam's normalised first steps blow up to +-lr.
    pre_bn = {f"{name}.bias" for name, m in a.named_modules()
              if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and name.startswith("blocks.")}
    assert len(pre_bn) == 4
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        if n in pre_bn:
            continue
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=n)
    with torch.no_grad():  # train-mode batch norm: the biases cancel exactly
        torch.testing.assert_close(a(x), b(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("network", ["small_conv", "mlp"])
def test_greedy_under_local_svi_takes_the_steps_of_plain_pytorch(network):
    # The local baseline is like for like too: LocalSVI (sequential) on greedy linear
    # heads and the example's plain PyTorch greedy loop start from the same weights and
    # take the same steps.
    example = _example()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 1, 12, 12, generator=g), torch.randint(0, 10, (8,), generator=g)

    def stack():
        if network == "mlp":
            return mlp(input_shape=(1, 12, 12), hidden=(16, 12))
        return small_conv(width=0.125, image_size=12)

    torch.manual_seed(0)
    net = local_net(stack(), GreedyHeads("linear"))
    torch.manual_seed(0)
    plain = example.TorchGreedy(stack(), lr=1e-2)
    # The plain loop's parameters under the local net's names.
    twins = {f"{n}.block.{k[len('blocks.' + n) + 1:]}": p
             for n in plain.stack.names
             for k, p in plain.stack.named_parameters() if k.startswith(f"blocks.{n}.")}
    twins.update({f"{n}.head.linear.{k}": p for n, head in zip(plain.stack.names, plain.heads)
                  for k, p in head.named_parameters()})
    twins.update({f"output.classifier.{k}": p
                  for k, p in plain.stack.classifier.named_parameters()})
    params = dict(net.named_parameters())
    assert params.keys() == twins.keys()
    for n, p in params.items():  # the same initial weights
        torch.testing.assert_close(p, twins[n], rtol=0, atol=0, msg=n)
    svi = LocalSVI(net, mode="sequential", optim_args={"lr": 1e-2})
    for _ in range(3):
        svi.step(x, y)
        plain.step(x, y)
    # See the backprop test: biases right before batch norm get rounding noise only.
    pre_bn = {f"{name}.bias" for name, m in net.named_modules()
              if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and ".block." in name}
    for n, p in params.items():
        if n not in pre_bn:
            torch.testing.assert_close(p, twins[n], rtol=1e-4, atol=1e-5, msg=n)
