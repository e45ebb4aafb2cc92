"""The report's sections on the run: the summary of verdicts, simulation-based
calibration, provenance and configuration."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np

from .figures import new_figure
from .html_page import Section, figure_html, table_html
from .sections_fit import fmt
from .verdicts import Verdict

__all__ = ["config_section", "metrics_section", "provenance_section", "summary_section",
           "vsbc_section"]

_SYMBOL = {"ok": "&#10003;", "warn": "!", "bad": "&#10007;", "info": "i"}


def summary_section(verdicts):
    """The verdicts, one line each: status, topic, finding and what to do."""
    if not verdicts:
        return None
    items = "".join(
        f'<li class="verdict {v.status}"><span class="mark">{_SYMBOL[v.status]}</span>'
        f"<b>{html.escape(v.topic)}</b>: {html.escape(v.finding)}"
        + (f' <span class="advice">{html.escape(v.advice)}</span>' if v.advice else "")
        + "</li>" for v in verdicts)
    return Section("Summary", f'<ul class="summary">{items}</ul>')


def _flatten(config, prefix=""):
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def config_section(config):
    """The run's configuration as a table (nested dicts flattened to dotted keys)."""
    if not isinstance(config, Mapping):
        raise TypeError(f"config: expected a dict, got {type(config).__name__}")
    if not config:
        return None
    return Section("Configuration", table_html(("setting", "value"), _flatten(config)))


def metrics_section(metrics):
    """A model's held-out metrics (e.g. a test ELBO and its per-layer terms) as a table,
    for models whose held-out data are not a classifier's (those have their own
    sections)."""
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics: expected a dict, got {type(metrics).__name__}")
    if not metrics:
        return None
    rows = [(k, fmt(v, 4) if isinstance(v, float) else v) for k, v in _flatten(metrics)]
    return Section("Test metrics", "<p>The model's own metrics on its held-out data.</p>"
                   + table_html(("metric", "value"), rows))


def provenance_section(record):
    """Versions, commit, date, device, data and timings of the run."""
    if not isinstance(record, Mapping):
        raise TypeError(f"provenance: expected a dict, got {type(record).__name__}")
    if not record:
        return None
    record = dict(record)
    sessions = record.pop("sessions", None)
    rows = [(k, fmt(v, 1) if isinstance(v, float) else v) for k, v in _flatten(record)]
    body = table_html(("", "value"), rows)
    if sessions:
        keys = list(dict.fromkeys(k for s in sessions for k in s))
        body += ("<p>Training sessions (a resumed run has several):</p>"
                 + table_html(keys, [[fmt(s[k], 1) if isinstance(s.get(k), float)
                                      else s.get(k, "") for k in keys] for s in sessions]))
    return Section("Provenance", body)


def vsbc_section(result):
    """Simulation-based calibration of the fitting procedure (Yao et al. 2018).

    :param VSBCResult result: from :func:`~pyro_local.diagnostics.vsbc.vsbc`.
    :returns: the section and its verdict.
    """
    tests = result.tests()
    verdict_word = result.verdict()
    rows, panels = [], []
    for site, (uniform, symmetric) in tests.items():
        u = result.quantiles[site].reshape(len(result.quantiles[site]), -1)
        for i, (pu, ps) in enumerate(zip(uniform.ravel(), symmetric.ravel(), strict=True)):
            label = site if uniform.size == 1 else f"{site}[{i}]"
            rows.append((label, fmt(pu, 3), fmt(ps, 3)))
            panels.append((label, u[:, i]))
    num = len(next(iter(result.quantiles.values())))
    status, finding = {
        "ok": ("ok", "the guide's quantiles of the true parameters are uniform and symmetric"),
        "miscalibrated": ("warn", "the quantiles are symmetric but not uniform: the fit is "
                                  "not biased in one direction, but its spread is off"),
        "biased": ("bad", "the quantiles are not symmetric: the fit is biased in one "
                          "direction"),
    }[verdict_word]
    verdict = Verdict("Simulation-based calibration", status,
                      f"{finding} ({num} simulated data sets, {len(rows)} parameters).")
    fig, axes = new_figure(min(4, len(panels)), -(-min(len(panels), 8) // 4), width=8.0,
                           height=2.2 * -(-min(len(panels), 8) // 4))
    for ax, (label, values) in zip(axes, panels[:8], strict=False):
        ax.hist(values, bins=np.linspace(0, 1, 11), color="tab:blue", edgecolor="black")
        ax.axhline(len(values) / 10, color="k", ls="--", lw=1)
        ax.set_title(label, fontsize="small")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    body = (f'<p class="verdict {status}">{html.escape(verdict.finding)}</p>'
            "<p>For each simulated data set, parameters drawn from the prior, data from the "
            "model, a fresh fit, and the guide's quantile of the true value. Uniform "
            "quantiles mean calibrated posteriors; symmetric ones (Kolmogorov-Smirnov of u "
            "against 1 - u, Yao et al. 2018) mean no bias in one direction. Dashed: the "
            "uniform count.</p>"
            + figure_html(fig, "histograms of the guide's quantiles of the true parameters")
            + table_html(("parameter", "p, uniform", "p, symmetric"), rows))
    return Section("Simulation-based calibration", body), [verdict]
