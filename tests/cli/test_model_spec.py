"""Your own model on the command line (--model package.module:factory), the rectified
hierarchy as a CLI model, and run folders written from Python."""

import json
import re
import textwrap

import pytest
import torch

from pyro_local import cli as api
from pyro_local import diagnostics as D
from pyro_local.cli.errors import UsageError
from pyro_local.cli.main import main
from pyro_local.infer import LocalSVI

FACTORY = textwrap.dedent('''
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer.autoguide import AutoNormal
    from pyro.nn import PyroModule, PyroSample

    from pyro_local.cli import ModelSpec


    class Regression(PyroModule):
        def __init__(self, num_data, noise):
            super().__init__()
            self.num_data, self.noise = num_data, noise
            self.w = PyroSample(dist.Normal(0.0, 1.0).expand([3]).to_event(1))

        def forward(self, x, y=None):
            w = self.w
            with pyro.plate("data", self.num_data, subsample=torch.arange(x.shape[0])):
                return pyro.sample("y", dist.Normal(x @ w, self.noise), obs=y)


    def regression(*, seed, device, noise=0.5, size=64):
        """A Bayesian linear regression on simulated data."""
        g = torch.Generator().manual_seed(123)
        x = torch.randn(size, 3, generator=g)
        y = x @ torch.tensor([1.0, -2.0, 0.5]) + noise * torch.randn(size, generator=g)
        torch.manual_seed(seed)
        model = Regression(size, noise)
        return ModelSpec(model, AutoNormal(model), train=(x, y), test=(x[:16], y[:16]),
                         optim_args={"lr": 0.05})


    class Block(PyroModule):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.lin = torch.nn.Linear(d_in, d_out)
            self.head = torch.nn.Linear(d_out, 3)

        def forward(self, h, y):
            a = torch.tanh(self.lin(h))
            with pyro.plate("data", h.shape[0]):
                pyro.sample("y", dist.Categorical(logits=self.head(a)), obs=y)
            return a


    def local_net(*, seed, hidden=(6,)):
        """Two deterministic blocks with local heads: a LocalNet."""
        from pyro_local.nn import LocalNet

        g = torch.Generator().manual_seed(1)
        x, y = torch.randn(48, 4, generator=g), torch.randint(0, 3, (48,), generator=g)
        torch.manual_seed(seed)
        net = LocalNet({"l1": Block(4, hidden[0]), "l2": Block(hidden[0], 5)})
        return ModelSpec(net, train=(x, y), test=(x, y))


    def without_test(*, seed, device):
        """The regression with no held-out data."""
        spec = regression(seed=seed, device=device)
        spec.test = None
        return spec


    def not_a_spec(*, seed):
        return "model"


    def exploding(*, seed, device):
        """The regression under SGD: a learning rate of 1e38 overflows at once."""
        spec = regression(seed=seed, device=device)
        spec.optim = torch.optim.SGD
        return spec
''')


@pytest.fixture
def toy(tmp_path, monkeypatch):
    (tmp_path / "toy_models.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "toy_models:regression"


def cli(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-progress", *args])
    return exit_info.value.code, capsys.readouterr()


def test_a_factory_trains_evaluates_and_reports(toy, tmp_path, capsys):
    run = tmp_path / "run"
    code, out = cli(capsys, "train", "--model", toy, "--out", str(run), "--epochs", "20",
                    "--batch-size", "16", "--option", "noise=0.3", "--device", "cpu",
                    "--report-draws", "30")
    assert code == 0, out.err
    assert out.out.startswith("trained: 80 steps, 20 epochs")
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"] == toy and config["options"] == {"noise": 0.3}
    assert config["lr"] == 0.05  # the factory's default learning rate, recorded
    code, out = cli(capsys, "evaluate", "--run", str(run))
    assert code == 0, out.err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_size"] == 16 and "dataset" not in metrics  # the factory has no data
    assert metrics["test_loss"] == pytest.approx(sum(metrics["test_loss_layers"].values()))
    code, out = cli(capsys, "report", "--run", str(run))
    assert code == 0, out.err
    page = (run / "report.html").read_text()
    sections = re.findall(r'<section id="([^"]+)">', page)
    # The factory's own test metrics, and what its guide's draws give.
    for section in ("summary", "test-metrics", "posterior-predictive-checks", "optimisation",
                    "pareto-k-hat", "leave-one-out-cross-validation", "posterior-summary"):
        assert section in sections
    config = dict(re.findall(r"<tr><td>([a-z_.]+)</td><td>([^<]*)</td></tr>",
                             page.split('id="configuration"')[1]))
    assert config["options.noise"] == "0.3" and config["epochs"] == "20"
    assert "dataset" not in config and "hidden" not in config  # not the factory's
    assert "test_loss" in json.loads(D.load_netcdf(run / "inference_data.nc").attrs[
        "test_metrics"])


def test_a_local_net_factory_trains_sequentially(toy, tmp_path, capsys):
    run = tmp_path / "run"
    code, out = cli(capsys, "train", "--model", "toy_models:local_net", "--out", str(run),
                    "--mode", "sequential", "--hidden", "7", "--batch-size", "12",
                    "--epochs", "2")
    assert code == 0 and out.out.startswith("trained: 8 steps, 2 epochs"), out.err
    code, out = cli(capsys, "evaluate", "--run", str(run))
    assert code == 0, out.err
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test_loss_layers"]) == {"l1", "l2"}
    code, out = cli(capsys, "report", "--run", str(run))
    assert code == 0 and (run / "report.html").is_file(), out.err
    # No latent variables: a point estimate, reported as local-smallconv is.
    sections = re.findall(r'<section id="([^"]+)">', (run / "report.html").read_text())
    assert "optimisation" in sections and "test-metrics" in sections
    assert "pareto-k-hat" not in sections


def test_a_factory_without_test_data_is_reported_from_its_fit(toy, tmp_path, capsys):
    run = tmp_path / "run"
    code, out = cli(capsys, "train", "--model", "toy_models:without_test", "--out", str(run),
                    "--epochs", "2", "--batch-size", "16", "--report-draws", "21")
    assert code == 0, out.err
    code, out = cli(capsys, "evaluate", "--run", str(run))
    assert code == 2 and "gives no test data" in out.err
    code, out = cli(capsys, "report", "--run", str(run))
    assert code == 0, out.err
    sections = re.findall(r'<section id="([^"]+)">', (run / "report.html").read_text())
    assert "pareto-k-hat" in sections and "test-metrics" not in sections


@pytest.mark.parametrize("args,message", [
    (["--hidden", "5"], "--hidden: the model toy_models:regression does not use it"),
    (["--data", "mnist"], "--data: the model toy_models:regression does not use it"),
    (["--option", "bogus=1"], "--option bogus: toy_models:regression takes no argument"),
    (["--option", "seed=1"], "--option seed: use --seed"),
    (["--option", "2x=1"], "--option: expected NAME=VALUE"),
    (["--mode", "sequential"], "mode='sequential' needs the model given as a"),
])
def test_a_factory_refuses_what_it_does_not_take(toy, tmp_path, capsys, args, message):
    code, out = cli(capsys, "train", "--model", toy, "--out", str(tmp_path / "r"), *args,
                    "--device", "cpu")
    assert code == 2 and message in out.err and len(out.err.splitlines()) == 1, out.err


def test_a_factory_must_return_a_model_spec(toy, tmp_path, capsys):
    code, out = cli(capsys, "train", "--model", "toy_models:not_a_spec", "--out",
                    str(tmp_path / "r"))
    assert code == 2 and "must return a pyro_local.cli.ModelSpec, got str" in out.err


def test_the_python_api_writes_run_folders_the_cli_reads(toy, tmp_path, capsys):
    run = tmp_path / "run"
    result = api.train(toy, run, epochs=2, batch_size=16, device="cpu", progress=False,
                       options={"noise": 0.3})
    assert result["steps"] == 8
    code, out = cli(capsys, "train", "--out", str(run), "--resume", "--epochs", "3")
    assert code == 0 and out.out.startswith("trained: 12 steps, 3 epochs (resumed"), out.err
    assert api.evaluate(run)["test_size"] == 16
    with pytest.raises(TypeError, match="unknown run settings"):
        api.train(toy, tmp_path / "other", epoch=2)


def test_save_run_from_your_own_loop(toy, tmp_path, capsys):
    import toy_models

    spec = toy_models.regression(seed=0, device=torch.device("cpu"), noise=0.3)
    svi = LocalSVI(spec.model, spec.guide, optim_args={"lr": 0.05})
    x, y = spec.train
    for _ in range(10):
        svi.step(x[:16], y[:16])
    run = api.save_run(tmp_path / "run", svi, toy, epochs=1, batch_size=16, device="cpu",
                       options={"noise": 0.3})
    code, out = cli(capsys, "evaluate", "--run", str(run.path))
    assert code == 0, out.err
    # Its report says the epochs the loop completed, not what its steps would make.
    api.report(run.path, draws=21, test_points=8)
    page = (run.path / "report.html").read_text()
    assert "<tr><td>epochs</td><td>1</td></tr>" in page
    assert "<tr><td>steps</td><td>10</td></tr>" in page
    # The CLI continues it from its epoch 1, with the steps taken in the loop.
    code, out = cli(capsys, "train", "--out", str(run.path), "--resume", "--epochs", "2")
    assert code == 0 and out.out.startswith("trained: 14 steps, 2 epochs"), out.out
    # A folder holding another run is never overwritten.
    with pytest.raises(UsageError, match="holds another run"):
        api.save_run(run.path, svi, toy, epochs=1, batch_size=32, device="cpu",
                     options={"noise": 0.3})


@pytest.mark.slow
def test_the_rectified_hierarchy_from_the_command_line(tmp_path, capsys):
    run = tmp_path / "run"
    code, out = cli(capsys, "train", "--model", "rectified-hierarchy", "--out", str(run),
                    "--data", "fashion-mnist-small", "--latent-dims", "12", "6",
                    "--epochs", "1", "--batch-size", "500", "--num-samples", "10",
                    "--option", "test_images=100", "--report-points", "50",
                    "--report-draws", "25", "--device", "cpu")
    assert code == 0, out.err
    assert json.loads((run / "config.json").read_text())["lr"] == 2e-3  # Adamax's default
    code, out = cli(capsys, "evaluate", "--run", str(run))
    assert code == 0, out.err
    m = json.loads((run / "metrics.json").read_text())
    assert m["test_size"] == 100 and set(m["test_elbo_layers"]) == {"x", "z1", "z2"}
    # The IWAE bound is at least the ELBO, up to its Monte Carlo error.
    assert m["iwae"] >= m["test_elbo"] - 3 * m["iwae_se"]
    assert set(m["active_units"]) == {"z1", "z2"} and 1 <= m["ess_mean"] <= 10
    code, out = cli(capsys, "report", "--run", str(run))
    assert code == 0, out.err
    page = (run / "report.html").read_text()
    assert "Sparsity of rectified layers" in page and "Pareto k-hat" in page
    assert 'id="test-metrics"' in page and "<td>iwae</td>" in page
    idata = D.load_netcdf(run / "inference_data.nc")
    assert idata.sample_stats.sizes["draw"] == 25 and "held_out" not in idata.groups()


def test_a_diverging_run_stops_in_one_line_naming_the_layer(toy, tmp_path, capsys):
    run = tmp_path / "run"
    code, out = cli(capsys, "train", "--model", "toy_models:exploding", "--out", str(run),
                    "--lr", "1e38", "--batch-size", "16", "--checkpoint-every", "1")
    assert code == 1 and len(out.err.strip().splitlines()) == 1, out.err
    assert out.err.startswith("pyro-local: error: training stopped: the update of layer 'global'")
    assert not (run / "checkpoint.pt").exists()  # nothing non-finite was saved


def test_widths_not_given_leave_the_factory_its_defaults():
    from pyro_local.cli.config import RunConfig
    from pyro_local.cli.model_spec import ModelSpec, call_factory

    seen = {}

    def factory(*, hidden=(6,), latent_dims=(4, 2)):
        seen.update(hidden=hidden, latent_dims=latent_dims)
        return ModelSpec(lambda x: None, train=(torch.zeros(2),))

    assert RunConfig().latent_dims is None and RunConfig().hidden is None
    call_factory(factory, RunConfig(), torch.device("cpu"), "factory")
    assert seen == {"hidden": (6,), "latent_dims": (4, 2)}
    call_factory(factory, RunConfig(hidden=[5], latent_dims=[3]), torch.device("cpu"), "f")
    assert seen == {"hidden": [5], "latent_dims": [3]}
