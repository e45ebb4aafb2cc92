"""The Bayesian recipes: LeNet-5's default widths, and the parameter average that their
checkpoints carry and that evaluation puts in place."""

import torch

from pyro_local.cli.config import RunConfig
from pyro_local.cli.recipes import get_recipe
from pyro_local.data import TensorLoader, load


def _build(cfg):
    data = load(cfg.dataset, "train", normalize="standardize",
                flatten=get_recipe(cfg.recipe).flatten)
    x, y = data.images[:500], data.labels[:500]
    return get_recipe(cfg.recipe).build(cfg, len(y), torch.device("cpu")), x, y


def test_lenet5_has_lenet5_widths_unless_told():
    cfg = RunConfig(recipe="bayes-lenet5", dataset="fashion-mnist-small",
                    training="global").validate()
    built, _, _ = _build(cfg)
    widths = [b.layer.weight_map.columns for b in built.model.blocks]
    assert widths == [6, 16, 120, 84, 10]


def test_checkpoint_carries_the_average_and_evaluation_uses_it(tmp_path):
    cfg = RunConfig(recipe="bayes-mlp", dataset="fashion-mnist-small", hidden=[16],
                    training="global", device="cpu").validate()
    built, x, y = _build(cfg)
    path = tmp_path / "checkpoint.pt"
    with built.train_context():
        built.svi.run(TensorLoader(x, y, batch_size=100, seed=0), 2, checkpoint=path,
                      progress=False)
    state = torch.load(path, weights_only=True)
    average = state["average"]
    assert average["steps"] == 10
    params = built.svi.average.params
    assert any(not torch.equal(s, p.detach()) for s, p in zip(average["shadow"], params))

    restored, _, _ = _build(cfg)
    with restored.train_context():
        restored.svi.load(path, x[:100], y[:100])
    restored.eval()
    for shadow, p in zip(average["shadow"], restored.svi.average.params):
        torch.testing.assert_close(p.detach(), shadow)
