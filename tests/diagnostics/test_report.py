"""The HTML report: sections, absent data, escaping, self-contained images."""

import base64
import errno
import io
import os
import re

import numpy as np
import pytest
from PIL import Image

from pyro_local import diagnostics as D
from pyro_local.infer.checkpoint import stale_temporaries

from .conftest import REPORT_FIGURES, REPORT_TITLES


def test_every_section_in_order(report_page):
    headings = re.findall(r"<section id=\"[^\"]+\"><h2>([^<]+)</h2>", report_page)
    assert headings == REPORT_TITLES
    assert "not in this report" not in report_page
    assert "<title>test run</title>" in report_page


def test_images_are_embedded_pngs_and_nothing_is_fetched(report_page):
    sources = re.findall(r"<img src=\"([^\"]+)\"", report_page)
    assert len(sources) == REPORT_FIGURES
    for source in sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        image = Image.open(io.BytesIO(base64.b64decode(source[len(prefix):])))
        image.verify()
        assert image.format == "PNG" and min(image.size) > 0
    links = re.findall(r"(?:href|src)=\"([^\"]+)\"", report_page)
    assert all(link.startswith(("#", "data:")) for link in links)
    assert "http" not in report_page and "<script" not in report_page


def test_config_is_escaped_and_flattened(report_page):
    assert "&lt;script&gt;x&lt;/script&gt;" in report_page
    assert "<td>optimizer.lr</td><td>0.001</td>" in report_page


def test_absent_sections_are_listed_with_reasons():
    page = D.build_report(config={"seed": 1}, history={"l1": [3.0, 2.0]})
    headings = re.findall(r"<h2>([^<]+)</h2>", page)
    assert headings == ["Contents", "Summary", "Optimisation", "Configuration"]
    absent = re.findall(r"<li class=\"absent\">([^<]+)</li>", page)
    assert len(absent) == 9  # held-out, calibration and OOD come from one group
    assert "Pareto k-hat: not in this report (no sample_stats with log weights)" in absent
    # Two steps cannot say whether the layer converged: the summary says so.
    assert "too few steps to judge l1" in page


def test_summary_comes_first_with_a_verdict_per_topic(report_page):
    summary = re.search(r'<ul class="summary">(.*?)</ul>', report_page).group(1)
    topics = re.findall(r"<b>([^<]+)</b>", summary)
    assert topics == ["Fit", "Predictive performance", "Calibration",
                      "Out-of-distribution detection", "Optimisation",
                      "Posterior predictive check", "Simulation-based calibration"]
    statuses = dict(zip(topics, re.findall(r'<li class="verdict (\w+)">', summary),
                        strict=True))
    # Labels drawn from the predictive itself: calibrated; the noise set is far more
    # uncertain than the held-out inputs; the exact-guide VSBC is uniform.
    assert statuses["Calibration"] == "ok"
    assert statuses["Out-of-distribution detection"] == "ok"
    assert statuses["Simulation-based calibration"] == "ok"
    # The regression layer's loss falls linearly to the end: still improving.
    assert statuses["Optimisation"] == "warn" and "regression still improves" in summary


def test_sections_read_the_data_they_show(report_page):
    # W's guide is its prior: the weight section says so; z is rectified: sparsity.
    assert "The posterior of W equals its prior" in report_page
    assert "<td>z</td><td>30</td>" in report_page
    # Two fits stored as chains: az.summary gives r_hat across fits for the small site w.
    assert "r_hat" in report_page and "<td>w[0]</td>" in report_page
    # Layers without latent variables are named, not read as "-inf, good".
    assert "Layers without latent variables (global)" in report_page
    # The continuous observation gets its histogram check and LOO-PIT.
    assert "LOO-PIT" in report_page and "y (continuous)" in report_page


def test_extra_sections_compose():
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    extra = D.Section("Engine timings", D.table_html(["step", "ms"], [[1, 2.5]])
                      + D.figure_html(fig, "timings"))
    page = D.build_report(extra_sections=[extra])
    assert '<section id="engine-timings"><h2>Engine timings</h2>' in page
    assert '<a href="#engine-timings">Engine timings</a>' in page


def test_no_pyplot_state_is_touched(report_inputs):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    D.build_report(report_inputs["idata"])
    assert plt.get_fignums() == before


def test_write_report_creates_folders(tmp_path):
    path = D.write_report(tmp_path / "run" / "report.html", D.build_report(config={"a": 1}))
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_write_report_keeps_the_old_page_when_the_write_fails(tmp_path, monkeypatch):
    path = D.write_report(tmp_path / "report.html", "old page")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="could not write .*report.html"):
        D.write_report(path, "new page")
    assert path.read_text(encoding="utf-8") == "old page"
    assert stale_temporaries(tmp_path) == []


@pytest.mark.parametrize("kwargs,error,match", [
    ({"config": [1]}, TypeError, "config"),
    ({"provenance": "x"}, TypeError, "provenance"),
    ({"idata": {"posterior": None}}, TypeError, "idata"),
    ({"extra_sections": ["<p>"]}, TypeError, "extra_sections"),
])
def test_bad_inputs(kwargs, error, match):
    with pytest.raises(error, match=match):
        D.build_report(**kwargs)


def test_mcmc_style_idata_gets_only_what_it_supports():
    # An InferenceData without the guide's log densities (e.g. from MCMC) has no k-hat
    # or variational LOO, but its posterior predictive check is drawn.
    import arviz as az

    rng = np.random.default_rng(0)
    idata = az.from_dict(
        posterior={"mu": rng.normal(size=(1, 50))},
        posterior_predictive={"y": rng.normal(size=(1, 50, 10))},
        log_likelihood={"y": rng.normal(size=(1, 50, 10))},
        observed_data={"y": rng.normal(size=10)},
    )
    page = D.build_report(idata)
    assert re.findall(r"<section id=\"[^\"]+\"><h2>([^<]+)</h2>", page) == [
        "Summary", "Posterior predictive checks", "Posterior summary"]
    with pytest.raises(ValueError, match="sample_stats"):
        D.variational_khat(idata)
    with pytest.raises(ValueError, match="sample_stats"):
        D.variational_loo(idata)
