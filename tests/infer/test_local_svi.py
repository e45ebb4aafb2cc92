"""LocalSVI: modes, locality, ownership, per-layer settings, errors, Predictive."""

import random

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Predictive

from pyro_local.infer import LocalELBO, LocalSVI, NonFiniteLossError
from pyro_local.infer.ownership import LayerLeakError
from pyro_local.nn import LocalNet
from pyro_local.poutine import layer

from .nets import DetBlock, make_data, make_net

KINDS = ["bayes", "stoch", "det"]
WIDTHS = [5, 7, 6, 4]


def _params(net):
    return {k: v.detach().clone() for k, v in net.named_parameters()}


def _train(mode, steps=6, seed=0):
    net = make_net(KINDS, WIDTHS, seed=seed)
    svi = LocalSVI(net, mode=mode, optim_args={"lr": 0.05})
    x, y = make_data()
    pyro.set_rng_seed(seed)
    infos = [svi.step(x, y) for _ in range(steps)]
    return net, svi, infos


def test_fused_and_sequential_give_the_same_parameters():
    net_f, svi_f, infos_f = _train("fused")
    net_s, svi_s, infos_s = _train("sequential")
    pf, ps = _params(net_f), _params(net_s)
    assert pf.keys() == ps.keys() and len(pf) > 0
    for k in pf:
        torch.testing.assert_close(pf[k], ps[k], rtol=1e-5, atol=1e-6)
    for a, b in zip(infos_f, infos_s):
        assert a.layer_losses.keys() == b.layer_losses.keys() == {"l1", "l2", "l3"}
        for k in a.layer_losses:
            assert a.layer_losses[k] == pytest.approx(b.layer_losses[k], rel=1e-5)
    assert svi_f.history.keys() == {"l1", "l2", "l3"}
    assert all(len(v) == 6 for v in svi_f.history.values())


def test_each_layer_owns_its_parameters():
    net, svi, _ = _train("fused", steps=1)
    for name in net.names:
        owned = svi.layer_params[name]
        assert owned and all(p.startswith(f"net.{name}") for p in owned)
    assert svi.unused_params == []


def test_a_parameter_no_loss_reaches_is_named_in_a_warning():
    net = make_net(["det", "det"], [5, 7, 4])
    net.l1.spare = torch.nn.Linear(3, 3)  # never called by the model
    svi = LocalSVI(net, optim_args={"lr": 0.05})
    before = net.l1.spare.weight.detach().clone()
    with pytest.warns(UserWarning, match=r"reached 2 parameter\(s\).*not be trained: "
                                         r"net\.l1\.spare\.weight, net\.l1\.spare\.bias"):
        svi.step(*make_data())
    assert svi.unused_params == ["net.l1.spare.weight", "net.l1.spare.bias"]
    svi.step(*make_data())  # warned once, at ownership, not on every step
    assert torch.equal(net.l1.spare.weight, before)


@pytest.mark.parametrize("trial", range(6))
def test_perturbing_one_layer_changes_no_other_gradient(trial):
    # Property test over random networks: scaling layer k's loss scales the
    # gradients of k's parameters and leaves every other gradient bit-for-bit alone.
    rng = random.Random(trial)
    depth = rng.randint(1, 5)
    kinds = [rng.choice(["det", "bayes", "stoch"]) for _ in range(depth)]
    widths = [rng.randint(2, 6) for _ in range(depth + 1)]
    net = make_net(kinds, widths, seed=trial)
    svi = LocalSVI(net)
    x, y = make_data(d=widths[0], seed=trial)
    k = f"l{rng.randint(1, depth)}"
    svi.init(x, y)  # autoguides draw their initial values on the first call
    params = dict(net.named_parameters())

    def grads(factor):
        svi.rng.manual_seed(trial)
        losses = svi.layer_losses(x, y)
        total = sum(v * (factor if name == k else 1.0) for name, v in losses.items())
        gs = torch.autograd.grad(total, list(params.values()), allow_unused=True)
        return dict(zip(params, gs))

    base, perturbed = grads(1.0), grads(3.0)
    owned = {n.removeprefix("net.") for n in svi.layer_params[k]}
    for name in params:
        if name in owned:
            torch.testing.assert_close(perturbed[name], 3.0 * base[name])
        elif base[name] is None:
            assert perturbed[name] is None
        else:
            assert torch.equal(perturbed[name], base[name]), name


def test_plain_model_with_layer_handlers():
    # A hand-written Pyro model (not a LocalNet) whose layers are cut by decorators.
    enc, dec = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)

    @layer("enc")
    def encode(x, y):
        h = torch.relu(enc(x))
        pyro.sample("y_enc", dist.Normal(h.sum(-1), 1.0).to_event(1), obs=y)
        return h

    @layer("dec")
    def decode(h, y):
        pyro.sample("y_dec", dist.Normal(dec(h).sum(-1), 1.0).to_event(1), obs=y)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.dec = enc, dec

        def forward(self, x, y):
            decode(encode(x, y), y)

    model = Model()
    svi = LocalSVI(model, None)
    x, y = torch.randn(8, 3), torch.randn(8)
    info = svi.step(x, y)
    assert set(info.layer_losses) == {"enc", "dec"}
    assert svi.layer_params == {
        "enc": ["model.enc.weight", "model.enc.bias"],
        "dec": ["model.dec.weight", "model.dec.bias"],
    }


def test_uncut_boundary_is_a_leak():
    lin1, lin2 = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin1, self.lin2 = lin1, lin2

        def forward(self, x):
            with layer("a"):
                h = lin1(x)
                pyro.sample("ya", dist.Normal(h.sum(), 1.0), obs=torch.tensor(0.0))
            with layer("b"):  # h enters without a cut
                pyro.sample("yb", dist.Normal(lin2(h).sum(), 1.0), obs=torch.tensor(0.0))

    with pytest.raises(LayerLeakError, match="lin1.weight: layers \\['a', 'b'\\]"):
        LocalSVI(Model()).step(torch.randn(2, 3))
    # Joint training with per-layer reporting is allowed on request.
    info = LocalSVI(Model(), strict=False).step(torch.randn(2, 3))
    assert set(info.layer_losses) == {"a", "b"}


def test_per_layer_learning_rates():
    net = make_net(["det", "det"], [5, 4, 3])
    before = _params(net)
    svi = LocalSVI(net, optim_args={"lr": 0.1}, layer_optim_args={"l2": {"lr": 0.0}})
    x, y = make_data()
    for _ in range(3):
        svi.step(x, y)
    after = _params(net)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("l2."))
    assert not any(torch.equal(before[k], after[k]) for k in before if k.startswith("l1."))
    assert svi.optimizers["l1"].param_groups[0]["lr"] == 0.1


def test_unknown_layer_in_optim_args():
    svi = LocalSVI(make_net(["det"], [5, 3]), layer_optim_args={"l9": {"lr": 1.0}})
    with pytest.raises(ValueError, match="unknown layers \\['l9'\\]"):
        svi.step(*make_data())


@pytest.mark.parametrize("validation", [True, False], ids=["validation", "no-validation"])
@pytest.mark.parametrize("mode", ["fused", "sequential"])
def test_nan_loss_names_layer_and_site(mode, validation):
    # With validation on, Pyro's argument check stops the NaN logits first; the
    # error names the layer and the site either way.
    net = make_net(["det", "det"], [5, 4, 3])
    svi = LocalSVI(net, mode=mode)
    x, y = make_data()
    svi.step(x, y)
    with torch.no_grad():
        net.l2.head.bias[0] = float("nan")
    before = _params(net)
    pyro.enable_validation(validation)
    with pytest.raises(NonFiniteLossError, match="layer 'l2'.*site 'y' \\(observed"):
        svi.step(x, y)
    after = _params(net)
    for k in before:
        if k.startswith("l2.") or mode == "fused":
            assert torch.equal(before[k], after[k]) or torch.isnan(before[k]).any(), k


def test_predictive_after_training():
    x, y = make_data()
    net = make_net(["bayes", "det"], [5, 7, 4])
    svi = LocalSVI(net, optim_args={"lr": 0.05})
    for _ in range(3):
        svi.step(x, y)
    samples = Predictive(net.model, guide=net.guide, num_samples=7)(x)
    assert samples["l1.weight"].shape == (7, 1, 5, 7)
    assert samples["l2.y"].shape == (7, 24) and samples["l2.y"].max() < 3
    # guide_is_prior latents are drawn from the model by the whole-network guide.
    net = make_net(["det", "stoch"], [5, 7, 6])
    LocalSVI(net).step(x, y)
    samples = Predictive(net.model, guide=net.guide, num_samples=7, parallel=True)(x)
    assert samples["l2.z"].shape == (7, 24, 6)
    assert samples["l2.y"].shape == (7, 24)


def test_whole_network_guide_gives_pyro_the_same_elbo():
    # Pyro's TraceMeanField_ELBO on LocalNet.model/guide is the sum of the layer
    # ELBOs, sample for sample.
    net = make_net(["bayes", "det"], [5, 4, 3])
    svi = LocalSVI(net)
    x, y = make_data()
    svi.init(x, y)  # autoguides draw their initial values on the first call
    svi.rng.manual_seed(0)  # the engine draws from its own stream
    ours = sum(svi.layer_losses(x, y).values())
    pyro.set_rng_seed(0)
    theirs = pyro.infer.TraceMeanField_ELBO().differentiable_loss(net.model, net.guide, x, y)
    torch.testing.assert_close(ours, theirs)


def test_device_map_on_cpu():
    net = make_net(["det", "det"], [5, 4, 3])
    svi = LocalSVI(net, device_map={"l1": "cpu", "l2": torch.device("cpu")}, mode="sequential")
    info = svi.step(*make_data())
    assert set(info.layer_losses) == {"l1", "l2"}
    with pytest.raises(ValueError, match="unknown layers"):
        LocalSVI(net, device_map={"nope": "cpu"})


def test_bad_arguments():
    net = make_net(["det"], [5, 3])
    with pytest.raises(ValueError, match="mode: expected"):
        LocalSVI(net, mode="bogus")
    with pytest.raises(ValueError, match="needs the model given as a pyro_local.nn.LocalNet"):
        LocalSVI(DetBlock(5, 3), None, mode="sequential")
    with pytest.raises(ValueError, match="holds its layers' guides"):
        LocalSVI(net, guide=lambda *a: None)
    with pytest.raises(TypeError, match="torch.optim.Optimizer class"):
        LocalSVI(net, optim=pyro.optim.Adam)
    with pytest.raises(TypeError, match="loss must be a pyro_local.infer.LocalELBO.*Trace_ELBO"):
        LocalSVI(net, loss=pyro.infer.Trace_ELBO())
    with pytest.raises(TypeError, match="LocalNet or a callable"):
        LocalSVI(3)
    with pytest.raises(ValueError, match="Python identifiers"):
        LocalNet({"model": DetBlock(5, 3)})


def test_layer_labels_survive_replay():
    # Pyro's replay would replace a latent's infer dict with the guide's; the
    # engine's traces keep the model's layer.
    net = make_net(["bayes"], [5, 3])
    svi = LocalSVI(net)
    x, y = make_data()
    guide_tr = poutine.trace(net.guide).get_trace(x, y)
    from pyro_local.infer.traces import get_traces

    model_tr, _ = get_traces(net.model, net.guide, (x, y), {})
    assert model_tr.nodes["l1.weight"]["infer"]["layer"] == "l1"
    assert "l1.weight" in guide_tr.nodes
    assert svi.step(x, y).layer_losses.keys() == {"l1"}


@pytest.mark.cuda
def test_cuda_modes_agree_and_layers_span_devices():
    x, y = make_data()
    results = []
    for mode in ("fused", "sequential"):
        net = make_net(KINDS, WIDTHS).cuda()
        svi = LocalSVI(net, mode=mode, optim_args={"lr": 0.05})
        pyro.set_rng_seed(0)
        for _ in range(4):
            svi.step(x.cuda(), y.cuda())
        results.append(_params(net))
    for k in results[0]:
        torch.testing.assert_close(results[0][k], results[1][k], rtol=1e-4, atol=1e-5)
    net = make_net(KINDS, WIDTHS)
    svi = LocalSVI(net, device_map={"l1": "cpu", "l2": "cuda", "l3": "cuda"})
    info = svi.step(x, y)
    assert net.l3.head.weight.is_cuda and not net.l1.head.weight.is_cuda
    assert set(info.layer_losses) == {"l1", "l2", "l3"}


def test_loss_values_keep_the_models_precision():
    # A float64 model's history is not rounded to float32 (763.06789953, not
    # 763.06787109).
    net = make_net(["det", "det"], [5, 4, 3]).double()
    x, y = make_data()
    x = x.double() * 1e3
    svi = LocalSVI(net, optim_args={"lr": 0.0})
    expected = {k: v.item() for k, v in svi.layer_losses(x, y).items()}
    info = svi.step(x, y)
    assert info.layer_losses == expected
    assert svi.history == {k: [v] for k, v in expected.items()}
    assert any(float(torch.tensor(v, dtype=torch.float32)) != v for v in expected.values())


def test_vectorized_particles_in_both_modes_match_pyro():
    # Three particles in one run per layer (a plate left of the data plate), the
    # same in fused and sequential mode and the same as Pyro's vectorized ELBO on
    # the whole network.
    x, y = make_data()
    results = []
    for mode in ("fused", "sequential"):
        net = make_net(["stoch", "det", "stoch"], [5, 6, 4, 3])
        elbo = LocalELBO(num_particles=3, vectorize_particles=True)
        svi = LocalSVI(net, loss=elbo, mode=mode, optim_args={"lr": 0.05}, seed=1)
        results.append([svi.step(x, y).loss for _ in range(3)] + [_params(net)])
        assert elbo.max_plate_nesting == 2
    assert results[0][:3] == pytest.approx(results[1][:3], rel=1e-6)
    for k, v in results[0][3].items():
        torch.testing.assert_close(v, results[1][3][k])
    svi.rng.manual_seed(2)
    ours = sum(svi.layer_losses(x, y).values())
    pyro.set_rng_seed(2)
    theirs = pyro.infer.TraceMeanField_ELBO(
        num_particles=3, vectorize_particles=True, max_plate_nesting=1  # + 1 for particles
    )
    torch.testing.assert_close(ours, theirs.differentiable_loss(net.model, net.guide, x, y))
