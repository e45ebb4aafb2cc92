import pyro
import pyro.distributions as dist
import torch
from pyro import poutine

from pyro_local.poutine import layer, replay
from pyro_local.poutine.layer_messenger import GLOBAL, guide_site_layers, site_layer


def model():
    with layer("a"):
        pyro.sample("z", dist.Normal(0.0, 1.0))
    pyro.sample("g", dist.Normal(0.0, 1.0))


def guide():
    # Outside every layer, as autoguides run; "z_aux" is an auxiliary site that the
    # model lacks and that produces "z".
    u = pyro.sample("z_aux", dist.Normal(0.0, 1.0))
    pyro.sample("z", dist.Delta(u))
    pyro.sample("g", dist.Normal(0.0, 1.0))


def test_replay_keeps_the_models_layer_where_pyro_replaces_it():
    guide_tr = poutine.trace(guide).get_trace()
    ours = poutine.trace(replay(model, guide_tr)).get_trace()
    pyros = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace()
    assert site_layer(ours.nodes["z"]) == "a"
    assert site_layer(pyros.nodes["z"]) == GLOBAL
    # The values are the guide's, as with Pyro's replay.
    assert torch.equal(ours.nodes["z"]["value"], guide_tr.nodes["z"]["value"])
    assert site_layer(ours.nodes["g"]) == GLOBAL


def test_guide_sites_take_the_layer_of_the_model_site_they_produce():
    guide_tr = poutine.trace(guide).get_trace()
    model_tr = poutine.trace(replay(model, guide_tr)).get_trace()
    assert guide_site_layers(model_tr, guide_tr) == {"z_aux": "a", "z": "a", "g": GLOBAL}
