"""LocalNet's whole-network guide replays every layer's guide into that layer's model."""

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine

from pyro_local.nn import LocalNet
from pyro_local.nn.network import site_name


def _model(h):
    # An unprefixed latent: LocalNet names it "<layer>.z" in the whole program.
    z = pyro.sample("z", dist.Normal(torch.zeros(()), 1.0))
    return h + z


def _guide(h):
    pyro.sample("z", dist.Normal(torch.tensor(5.0), 1e-3))


def test_the_whole_guide_feeds_each_layer_its_guide_draw():
    net = LocalNet({"l1": _model, "l2": _model}, guides={"l1": _guide, "l2": _guide})
    trace = poutine.trace(net.guide).get_trace(torch.zeros(3))
    z1, z2 = trace.nodes["l1.z"]["value"], trace.nodes["l2.z"]["value"]
    # The guide's output is the network's output under the guide's latents: the model
    # replayed the guide's draws (about 5 each), not fresh prior draws.
    out = trace.nodes["_RETURN"]["value"]
    assert torch.allclose(out, (z1 + z2).expand(3))
    assert abs(float(z1) - 5.0) < 0.01 and abs(float(z2) - 5.0) < 0.01


def test_the_whole_model_replays_against_the_whole_guide():
    net = LocalNet({"l1": _model}, guides={"l1": _guide})
    guide_trace = poutine.trace(net.guide).get_trace(torch.zeros(2))
    model_trace = poutine.trace(poutine.replay(net.model, trace=guide_trace)).get_trace(
        torch.zeros(2))
    assert torch.equal(model_trace.nodes["l1.z"]["value"], guide_trace.nodes["l1.z"]["value"])


def test_site_name_is_the_name_the_whole_program_gives():
    net = LocalNet({"l1": _model, "l2": _model})
    trace = poutine.trace(net.model).get_trace(torch.zeros(3))
    sampled = [n for n, site in trace.nodes.items() if site["type"] == "sample"]
    assert sampled == [site_name("l1", "z"), site_name("l2", "z")] == ["l1.z", "l2.z"]
    assert site_name("l1", "l1.weight") == "l1.weight"  # a PyroModule's own name stays
