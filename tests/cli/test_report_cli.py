"""`pyro-local report`: the run folder keeps its InferenceData, the report shows the
provenance and the configuration the run used, and a netCDF file reports on its own."""

import json
import re

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyro_local import diagnostics as D

from .test_cli import SMALL, cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """A bayes-mlp run of 1 epoch, resumed to 2, then reported with few draws."""
    run = tmp_path_factory.mktemp("report") / "run"
    assert cli("train", "--out", str(run), *SMALL)[0] == 0
    resume = [a if a != "1" else "2" for a in SMALL]  # --epochs 2
    assert cli("train", "--out", str(run), "--resume", *resume)[0] == 0
    assert cli("report", "--run", str(run), "--draws", "40", "--points", "200",
               "--test-points", "300")[0] == 0
    return run


def test_run_folder_keeps_its_inference_data(resumed_run):
    idata = D.load_netcdf(resumed_run / "inference_data.nc")
    assert {"posterior", "log_likelihood", "sample_stats", "held_out",
            "optimization_history"} <= set(idata.groups())
    assert idata.sample_stats.sizes["draw"] == 40 and idata.held_out.sizes["point"] == 300
    provenance = json.loads(idata.attrs["provenance"])
    assert provenance["dataset"] == "fashion-mnist-small" and provenance["seed"] == 0
    # Two training sessions: the first run and its resume.
    sessions = provenance["sessions"]
    assert [s["resumed"] for s in sessions] == [False, True]
    assert [s["steps"] for s in sessions] == [20, 40]


def test_report_shows_what_the_run_used_and_did(resumed_run):
    page = (resumed_run / "report.html").read_text()
    config = dict(re.findall(r"<tr><td>([a-z_]+)</td><td>([^<]*)</td></tr>",
                             page.split('id="configuration"')[1]))
    # The epochs the run completed (1 + 1 resumed), the device it used, and no field
    # that bayes-mlp does not read.
    assert config["epochs"] == "2" and config["steps"] == "40" and config["device"] == "cpu"
    assert "rule" not in config and "latent_dims" not in config
    assert 'id="provenance"' in page and "Training sessions" in page
    assert page.index('id="summary"') < page.index('id="held-out-predictions"')


def test_report_of_a_netcdf_file(resumed_run, tmp_path, capsys):
    out = tmp_path / "again.html"
    code, output = cli("report", "--run", str(resumed_run / "inference_data.nc"), "--out",
                       str(out), capsys=capsys)
    assert code == 0, output.err
    page, original = out.read_text(), (resumed_run / "report.html").read_text()
    headings = re.findall(r'<section id="([^"]+)">', page)
    assert headings == re.findall(r'<section id="([^"]+)">', original)


def test_report_of_a_file_takes_no_sampling_options(resumed_run, capsys):
    code, output = cli("report", "--run", str(resumed_run / "inference_data.nc"),
                       "--draws", "10", capsys=capsys)
    assert code == 2 and "--draws: only for a run folder" in output.err


def test_report_of_a_file_that_is_not_netcdf(tmp_path, capsys):
    bad = tmp_path / "x.nc"
    bad.write_text("not netcdf")
    code, output = cli("report", "--run", str(bad), capsys=capsys)
    assert code == 2 and "not an InferenceData netCDF file" in output.err
    code, output = cli("report", "--run", str(tmp_path / "none.nc"), capsys=capsys)
    assert code == 2 and "no such file" in output.err


def test_report_of_a_network_without_weight_posteriors(tmp_path):
    # A locally trained deterministic network: held-out checks and its loss history,
    # and the contents say why the posterior's sections are absent.
    run = tmp_path / "conv"
    args = [a for a in SMALL if a not in ("--hidden", "16", "--num-samples", "2")]
    assert cli("train", "--out", str(run), "--model", "local-smallconv", *args)[0] == 0
    assert cli("report", "--run", str(run), "--test-points", "200")[0] == 0
    page = (run / "report.html").read_text()
    sections = re.findall(r'<section id="([^"]+)">', page)
    assert sections[:4] == ["summary", "held-out-predictions", "calibration",
                            "out-of-distribution-detection"]
    assert "optimisation" in sections and "pareto-k-hat" not in sections
    assert "Pareto k-hat: not in this report" in page
    assert D.load_netcdf(run / "inference_data.nc").held_out.sizes["point"] == 200


def test_report_of_a_folder_written_by_python(tmp_path, capsys):
    # A folder holding only an InferenceData, as Python code writes it.
    def model(y):
        mu = pyro.sample("mu", dist.Normal(0.0, 1.0))
        with pyro.plate("data", 5):
            pyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    def guide(y):
        pyro.sample("mu", dist.Normal(0.1, 0.4))

    D.save_netcdf(D.to_inference_data(model, guide, torch.zeros(5), num_samples=50),
                  tmp_path / "inference_data.nc")
    code, output = cli("report", "--run", str(tmp_path), capsys=capsys)
    assert code == 0, output.err
    assert '<section id="summary">' in (tmp_path / "report.html").read_text()
