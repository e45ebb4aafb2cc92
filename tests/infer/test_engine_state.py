"""The engine's state record, its own random-number stream and its per-layer gradient norms."""

from pathlib import Path

import pyro
import pytest
import torch

from pyro_local.infer import LocalSVI, LocalSVIState
from pyro_local.infer import checkpoint as ckpt
from pyro_local.infer.engine_rng import EngineRNG

from .nets import make_data, make_net

KINDS, WIDTHS = ["bayes", "stoch", "det"], [5, 4, 4, 3]
FORMAT1 = Path(__file__).parent / "data" / "checkpoint_format1.pt"


def _engine(mode="fused", seed=3, **kwargs):
    return LocalSVI(make_net(KINDS, WIDTHS), mode=mode, seed=seed, **kwargs)


@pytest.mark.parametrize("mode", ["fused", "sequential"])
def test_two_engines_stepped_in_turn_step_as_each_alone(mode):
    x, y = make_data()
    alone = []
    for seed in (1, 2):
        svi = _engine(mode, seed)
        alone.append([svi.step(x, y).layer_losses for _ in range(3)])
    a, b = _engine(mode, 1), _engine(mode, 2)
    together = [[], []]
    for _ in range(3):
        together[0].append(a.step(x, y).layer_losses)
        torch.randn(7)  # the user's own draws in between change nothing either
        together[1].append(b.step(x, y).layer_losses)
    assert together == alone
    assert alone[0] != alone[1]


def test_stepping_leaves_the_global_stream_alone():
    x, y = make_data()
    svi = _engine()
    before = torch.get_rng_state()
    svi.init(x, y)
    svi.step(x, y)
    svi.evaluate(x, y)
    svi.layer_losses(x, y)
    assert torch.equal(torch.get_rng_state(), before)


def test_without_a_seed_engines_draw_their_seeds_from_torch():
    pyro.set_rng_seed(0)
    first, second = EngineRNG().seed, EngineRNG().seed
    pyro.set_rng_seed(0)
    assert (EngineRNG().seed, EngineRNG().seed) == (first, second)
    assert first != second


def test_a_seed_draws_what_torch_manual_seed_draws():
    rng = EngineRNG(11)
    with rng.active():
        ours = torch.rand(4)
    torch.manual_seed(11)
    assert torch.equal(ours, torch.rand(4))
    with pytest.raises(ValueError, match="seed must be an int"):
        EngineRNG(-1)


def test_the_state_record_is_what_state_dict_saves(tmp_path):
    x, y = make_data()
    svi = _engine()
    svi.step(x, y)
    state = svi.state
    assert isinstance(state, LocalSVIState) and state.step == 1
    assert set(state.layer_params) == {"l1", "l2", "l3"}
    saved = torch.load(svi.save(tmp_path / "c.pt"), weights_only=True)
    assert saved["format"] == 2 and set(LocalSVIState._fields) <= set(saved)
    assert saved["rng"]["seed"] == 3 and torch.equal(saved["rng"]["cpu"], svi.rng.cpu)
    fresh = _engine(seed=99)
    fresh.load(tmp_path / "c.pt", x, y)
    assert fresh.step(x, y) == svi.step(x, y)  # the engine's stream resumed too


def test_a_checkpoint_of_format_1_loads_and_continues_as_before():
    # Written by the code before this format (main at 0f4e087): the state after one
    # sequential step, with what that code's second step gave in "extra".
    x, y = make_data()
    svi = _engine("sequential", seed=5)
    extra = svi.load(FORMAT1, x, y)
    assert ckpt.load(FORMAT1)["format"] == 1 and svi.step_count == 1
    info = svi.step(x, y)
    assert info.layer_losses == extra["next_layer_losses"]
    net = svi.net.state_dict()
    for k, v in extra["next_params"].items():
        assert torch.equal(net[k], v), k


def test_a_malformed_random_state_changes_nothing():
    x, y = make_data()
    svi = _engine()
    svi.step(x, y)
    state = svi.state_dict()
    state["rng"] = {**state["rng"], "cpu": torch.zeros(3)}
    before = svi.rng.cpu.clone()
    with pytest.raises(ValueError, match="random-number state is malformed"):
        svi.load_state_dict(state)
    assert torch.equal(svi.rng.cpu, before) and svi.step_count == 1


@pytest.mark.parametrize("mode,clip_norm", [("fused", None), ("sequential", 1e-3)])
def test_grad_norms_are_each_layers_gradient_norm_before_its_update(mode, clip_norm):
    x, y = make_data()
    by_hand = _engine(mode)
    losses = by_hand.layer_losses(x, y)  # same net, same seed: the same draws
    expected = {}
    for layer, loss in losses.items():
        params = by_hand.parameters(layer)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        squares = [g.pow(2).sum() for g in grads if g is not None]
        expected[layer] = torch.stack(squares).sum().sqrt().item()
    info = _engine(mode, clip_norm=clip_norm).step(x, y)
    assert info.grad_norms.keys() == expected.keys() == {"l1", "l2", "l3"}
    for layer in expected:  # before clipping: clip_norm is far below every norm
        assert info.grad_norms[layer] == pytest.approx(expected[layer], rel=1e-5)
        assert expected[layer] > 10 * (clip_norm or 0)
    assert by_hand.evaluate(x, y).grad_norms == {}


@pytest.mark.cuda
def test_on_cuda_the_engine_keeps_its_own_stream_and_resumes_it(tmp_path):
    x, y = (t.cuda() for t in make_data())

    def engine():
        return LocalSVI(make_net(KINDS, WIDTHS).cuda(), seed=4)

    svi = engine()
    svi.step(x, y)
    before = torch.cuda.get_rng_state()
    path = svi.save(tmp_path / "c.pt")
    expected = svi.step(x, y)
    assert torch.equal(torch.cuda.get_rng_state(), before)
    fresh = engine()
    fresh.load(path, x, y)
    assert fresh.step(x, y) == expected
