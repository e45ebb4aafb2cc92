"""Fixed projections and bases: buffers, never trained, saved and restored."""

import pytest
import torch

from pyro_local.infer import LocalSVI
from pyro_local.nn.rules.lls import LLSHead
from pyro_local.nn.rules.svp import SVPHead

from .nets import images, tiny_net

FIXED = {"svp": ("projection", "input_projection"), "lls": ("basis",),
         "lls-mxm": ("basis",), "contsup-r2e-svp": ("projection", "input_projection")}


def _fixed(net):
    out = {}
    for name, module in net.named_modules():
        if isinstance(module, (SVPHead, LLSHead)):
            for b, value in module.named_buffers(recurse=False):
                out[f"{name}.{b}"] = value
    return out


@pytest.mark.parametrize("rule", sorted(FIXED))
def test_fixed_tensors_are_buffers_not_parameters(rule):
    net = tiny_net(rule)
    fixed = _fixed(net)
    kinds = {k.rsplit(".", 1)[1] for k in fixed}
    assert kinds == set(FIXED[rule])
    param_ids = {id(p) for p in net.parameters()}
    assert not any(id(b) in param_ids for b in fixed.values())
    state = net.state_dict()
    assert all(k in state for k in fixed)


@pytest.mark.parametrize("mode", ["fused", "sequential"])
@pytest.mark.parametrize("rule", ["svp", "lls-mxm"])
def test_fixed_tensors_never_change_in_training(rule, mode):
    net = tiny_net(rule)
    before = {k: v.clone() for k, v in _fixed(net).items()}
    params = {k: v.detach().clone() for k, v in net.named_parameters()}
    svi = LocalSVI(net, mode=mode, optim_args={"lr": 0.05})
    x, y = images()
    for _ in range(3):
        svi.step(x, y)
    for k, v in _fixed(net).items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    # ... while the learned parameters (LLS-MxM's mixing included) did move.
    moved = [k for k, v in net.named_parameters() if not torch.equal(v, params[k])]
    assert len(moved) == len(params)


@pytest.mark.parametrize("rule", ["svp", "lls"])
def test_checkpoint_restores_the_fixed_tensors(rule, tmp_path):
    x, y = images()
    net = tiny_net(rule, seed=0)
    svi = LocalSVI(net, optim_args={"lr": 0.05})
    svi.step(x, y)
    saved = {k: v.clone() for k, v in _fixed(net).items()}
    svi.save(tmp_path / "ckpt.pt")
    # A fresh network with another seed has other projections (LLS's basis does not
    # depend on the seed: spoil it by hand) until the checkpoint is loaded.
    fresh = tiny_net(rule, seed=1)
    with torch.no_grad():
        for v in _fixed(fresh).values():
            if rule == "lls":
                v.zero_()
    assert any(not torch.equal(v, saved[k]) for k, v in _fixed(fresh).items())
    svi2 = LocalSVI(fresh, optim_args={"lr": 0.05})
    svi2.load(tmp_path / "ckpt.pt", x, y)
    for k, v in _fixed(fresh).items():
        torch.testing.assert_close(v, saved[k], rtol=0, atol=0)
    # And training continues identically from the checkpoint.
    torch.manual_seed(5)
    a = svi.step(x, y)
    torch.manual_seed(5)
    b = svi2.step(x, y)
    assert a.layer_losses == pytest.approx(b.layer_losses, rel=1e-6)
