import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from pyro_local.poutine import cut, layer
from pyro_local.poutine.layer_messenger import GLOBAL, site_layer


def model(x):
    w = pyro.param("w", torch.ones(()))
    with layer("a"):
        pyro.sample("za", dist.Normal(w * x, 1.0))
        with layer("b"):
            pyro.sample("zb", dist.Normal(0.0, 1.0))
            pyro.param("v", torch.zeros(()))
    pyro.sample("zg", dist.Normal(0.0, 1.0))


def test_sites_get_their_layer_innermost_wins():
    tr = poutine.trace(model).get_trace(torch.tensor(1.0))
    assert site_layer(tr.nodes["za"]) == "a"
    assert site_layer(tr.nodes["zb"]) == "b"
    assert site_layer(tr.nodes["v"]) == "b"
    assert site_layer(tr.nodes["w"]) == GLOBAL
    assert site_layer(tr.nodes["zg"]) == GLOBAL


def test_shared_infer_dict_is_not_mutated():
    shared = {"guide_is_prior": True}

    def m():
        with layer("a"):
            pyro.sample("z", dist.Normal(0.0, 1.0), infer=shared)

    tr = poutine.trace(m).get_trace()
    assert tr.nodes["z"]["infer"] == {"guide_is_prior": True, "layer": "a"}
    assert shared == {"guide_is_prior": True}


def test_decorator_cuts_tensor_inputs():
    @layer("l2")
    def block(h, extra):
        assert not h.requires_grad and not extra["t"].requires_grad
        return pyro.sample("z", dist.Normal(h, 1.0))

    x = torch.ones(3, requires_grad=True)
    tr = poutine.trace(block).get_trace(x * 2, {"t": x})
    assert site_layer(tr.nodes["z"]) == "l2"
    assert tr.nodes["z"]["fn"].loc.grad_fn is None


def test_decorator_without_cut_keeps_gradients():
    @layer("l2", cut_inputs=False)
    def block(h):
        return h * 3

    x = torch.ones(3, requires_grad=True)
    block(x).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), 3.0))


def test_context_manager_cut():
    x = torch.ones(2, requires_grad=True)
    with layer("a") as a:
        h = a.cut((x * 2, [x], "text"))
    assert not h[0].requires_grad and not h[1][0].requires_grad and h[2] == "text"
    assert cut(x).data_ptr() == x.data_ptr()  # a view, not a copy


def test_functional_form_and_errors():
    tr = poutine.trace(layer("f", lambda: pyro.sample("z", dist.Normal(0.0, 1.0)))).get_trace()
    assert site_layer(tr.nodes["z"]) == "f"
    with pytest.raises(ValueError, match="reserved"):
        layer(GLOBAL)
    with pytest.raises(TypeError, match="non-empty str"):
        layer("")
    with pytest.raises(TypeError, match="callable"):
        layer("a")(3)
