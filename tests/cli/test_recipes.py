"""The Bayesian recipes: their default widths, and the parameter average that their
checkpoints carry and that evaluation puts in place."""

import math
import shutil
from pathlib import Path

import pytest
import torch

from pyro_local.cli.config import RunConfig
from pyro_local.cli.jobs import build_job, load_checkpoint
from pyro_local.data import TensorLoader

CPU = torch.device("cpu")


def test_lenet5_has_lenet5_widths_unless_told():
    cfg = RunConfig(recipe="bayes-lenet5", dataset="fashion-mnist-small",
                    training="global", device="cpu").validate()
    job = build_job(cfg, CPU)
    widths = [b.layer.weight_map.columns for b in job.svi.model.blocks]
    assert widths == [6, 16, 120, 84, 10]
    assert cfg.hidden == [120, 84]  # filled in, so config.json and the report say them


def test_hidden_given_is_used():
    cfg = RunConfig(recipe="bayes-mlp", dataset="fashion-mnist-small", hidden=[16, 8],
                    training="global", device="cpu").validate()
    job = build_job(cfg, CPU)
    assert [b.layer.weight_map.columns for b in job.svi.model.blocks] == [16, 8, 10]


def _small_train(job, n=500):
    return tuple(t[:n] for t in job.train)


@pytest.mark.parametrize("training", ["global", "local"])
def test_checkpoint_carries_the_average_and_evaluation_uses_it(tmp_path, training):
    cfg = RunConfig(recipe="bayes-mlp", dataset="fashion-mnist-small", hidden=[16],
                    training=training, device="cpu").validate()
    job = build_job(cfg, CPU)
    x, y = _small_train(job)
    path = tmp_path / "checkpoint.pt"
    with job.train_context():
        job.svi.run(TensorLoader(x, y, batch_size=100, seed=0), 2, checkpoint=path,
                    progress=False)
    state = torch.load(path, weights_only=True)
    average = state["average"]
    assert average["steps"] == 10
    params = job.svi.average.params
    assert any(not torch.equal(s, p.detach()) for s, p in zip(average["shadow"], params))

    restored = build_job(cfg, CPU)
    with restored.train_context():
        load_checkpoint(restored, path, (x[:100], y[:100]))
    restored.eval()
    for shadow, p in zip(average["shadow"], restored.svi.average.params, strict=True):
        torch.testing.assert_close(p.detach(), shadow)


def test_an_average_of_other_parameters_loads_nothing(tmp_path):
    small = RunConfig(recipe="bayes-mlp", dataset="fashion-mnist-small", hidden=[16],
                      training="global", device="cpu").validate()
    job = build_job(small, CPU)
    x, y = _small_train(job, 100)
    with job.train_context():
        job.svi.step(x, y)
    state = job.svi.state_dict()
    state["average"]["shadow"] = state["average"]["shadow"][:-1]
    before = [p.detach().clone() for p in job.svi.average.params]
    with job.train_context():
        job.svi.step(x, y)  # the parameters move on: a load would move them back
    moved = [p.detach().clone() for p in job.svi.average.params]
    assert any(not torch.equal(a, b) for a, b in zip(before, moved))
    with pytest.raises(ValueError, match="saved average does not match"):
        job.svi.load_state_dict(state)
    for p, m in zip(job.svi.average.params, moved):
        assert torch.equal(p.detach(), m)


@pytest.mark.slow
def test_a_local_run_written_by_version_0_1_evaluates(tmp_path):
    # Written by `pyro-local train --model bayes-mlp --hidden 2 --epochs 1
    # --batch-size 2500 --num-samples 2` before the Bayesian recipes moved onto
    # nn.local_net: layers "l1", "l2" of local_classifier_net, now "l1", "output".
    from pyro_local.cli.commands import _restore
    from pyro_local.cli.main import main
    from pyro_local.cli.run_dir import RunDir

    run = tmp_path / "run"
    shutil.copytree(Path(__file__).parent / "data" / "main_bayes_mlp_local", run)
    saved = torch.load(run / "checkpoint.pt", weights_only=True)
    _, job, _, _ = _restore(RunDir(run))
    assert job.svi.history == {"l1": saved["history"]["l1"], "output": saved["history"]["l2"]}
    # the average the run kept is in place, parameter for parameter
    for shadow, p in zip(saved["average"]["shadow"], job.svi.average.params, strict=True):
        assert torch.equal(p.detach(), shadow)
    with pytest.raises(SystemExit) as done:
        main(["--no-progress", "evaluate", "--run", str(run)])
    assert done.value.code == 0
    assert (run / "metrics.json").exists()


@pytest.mark.parametrize("rule,head", [("greedy", "LinearHead"), ("greedy-conv", "ConvHead"),
                                       ("contsup", "LinearHead"), ("contsup-conv", "ConvHead")])
def test_smallconv_rules_name_their_heads(rule, head):
    # "greedy" and "contsup" keep the linear heads their saved runs were built with.
    cfg = RunConfig(recipe="local-smallconv", dataset="fashion-mnist-small", rule=rule,
                    device="cpu").validate()
    job = build_job(cfg, CPU)
    heads = {type(m.head).__name__ for name, m in job.svi.model.named_children()
             if name.startswith("conv")}
    assert heads == {head}
    x, y = _small_train(job, 8)
    with job.train_context():
        assert math.isfinite(job.svi.step(x, y).loss)
