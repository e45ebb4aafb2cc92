"""A self-contained HTML report of a trained run.

The page is a summary of verdicts, then a list of :class:`~pyro_local.diagnostics.Section`
objects: a title and an HTML body. Each builder in the ``sections_*`` modules makes its
sections from its data, with the verdicts they contribute, or returns ``None`` when that
data is absent, in which case the page's contents say so. Other parts of the library add
their own sections by building ``Section`` objects (with
:func:`~pyro_local.diagnostics.figure_html` and
:func:`~pyro_local.diagnostics.table_html`, from
:mod:`~pyro_local.diagnostics.html_page`) and passing them as ``extra_sections``.
Figures are embedded as base64 PNG and the style sheet is inline: the file needs nothing
but itself.

Example::

    html = build_report(idata, config={"lr": 1e-3})
    write_report("runs/demo/report.html", html)
"""

from __future__ import annotations

from ..infer.checkpoint import atomic_write
from . import sections_fit as fit
from . import sections_posterior as post
from . import sections_predictive as pred
from . import sections_run as run
from .held_out import GROUP
from .html_page import Section, render_page
from .provenance import CONFIG_ATTR, METRICS_ATTR, PROVENANCE_ATTR, read_attr

__all__ = ["build_report", "write_report"]


def _subtitle(record):
    if not record:
        return ""
    parts = [f"pyro-local {record['pyro_local']}" if "pyro_local" in record else "",
             f"commit {record['git_commit'][:12]}" if record.get("git_commit") else "",
             record.get("date", ""), record.get("dataset", "")]
    return " · ".join(p for p in parts if p)


def build_report(
    idata=None,
    *,
    history=None,
    config=None,
    provenance=None,
    metrics=None,
    vsbc=None,
    extra_sections=(),
    title="pyro-local run report",
):
    """The report of a trained run, from whatever of its data is given.

    A summary of verdicts comes first (fit, predictive performance, calibration,
    out-of-distribution detection, optimisation, predictive checks, simulation-based
    calibration), then the sections behind them: held-out predictions, calibration and
    OOD detection (from ``idata``'s ``held_out`` group), a model's own test metrics,
    posterior predictive checks by
    data type, optimisation, PSIS k-hat read by the posterior's dimension, leave-one-out
    cross-validation, ArviZ's summary of low-dimensional sites, weight posteriors against
    their priors, sparsity of rectified latents, simulation-based calibration,
    provenance and configuration, then ``extra_sections``. Sections without data are
    listed in the contents with the reason.

    :param arviz.InferenceData idata: from
        :func:`~pyro_local.diagnostics.inference_data.to_inference_data` (several fits as
        chains are read one at a time), with a ``held_out`` group from
        :func:`~pyro_local.diagnostics.held_out.add_held_out` for classifiers.
    :param dict history: layer -> loss per step; defaults to ``idata``'s
        ``optimization_history``.
    :param dict config: the run's configuration (nested dicts are flattened); defaults to
        ``idata``'s ``config`` attribute.
    :param dict provenance: from :func:`~pyro_local.diagnostics.provenance.provenance`;
        defaults to ``idata``'s ``provenance`` attribute.
    :param dict metrics: held-out metrics of a model that is not a classifier (e.g. a
        test ELBO); defaults to ``idata``'s ``test_metrics`` attribute.
    :param VSBCResult vsbc: from :func:`~pyro_local.diagnostics.vsbc.vsbc`.
    :param extra_sections: further :class:`~pyro_local.diagnostics.Section` objects.
    :param str title: page title.
    :rtype: str
    """
    if idata is not None and not hasattr(idata, "groups"):
        raise TypeError(f"idata: expected an arviz.InferenceData, got {type(idata).__name__}")
    extra_sections = list(extra_sections)
    if not all(isinstance(x, Section) for x in extra_sections):
        raise TypeError("extra_sections: expected Section objects")
    groups = idata.groups() if idata is not None else []
    if history is None and "optimization_history" in groups:
        history = idata["optimization_history"]
    config = read_attr(idata, CONFIG_ATTR) if config is None else config
    provenance = read_attr(idata, PROVENANCE_ATTR) if provenance is None else provenance
    metrics = read_attr(idata, METRICS_ATTR) if metrics is None else metrics
    made, absent, verdicts = [], [], {}

    def add(name, reason, builder, data):
        section, found = (None, []) if data is None else builder(data)
        for verdict in found:
            verdicts.setdefault(verdict.topic, verdict)
        if section is None:
            absent.append((name, reason))
        else:
            made.extend(section if isinstance(section, list) else [section])

    add("Held-out predictions, calibration, OOD detection", "no held_out group",
        pred.held_out_sections,
        idata[GROUP] if GROUP in groups else None)
    if metrics:
        made.append(run.metrics_section(metrics))
    add("Posterior predictive checks", "no posterior_predictive", pred.ppc_section, idata)
    add("Optimisation", "no per-layer loss history", fit.history_section, history)
    add("Pareto k-hat", "no sample_stats with log weights", fit.khat_section, idata)
    add("Leave-one-out cross-validation", "no log_likelihood", fit.loo_section, idata)
    add("Posterior summary", "no site small enough", post.posterior_summary_section, idata)
    add("Weight posteriors", "no weight matrices", post.weight_section, idata)
    add("Sparsity of rectified layers", "no rectified latents", post.sparsity_section, idata)
    add("Simulation-based calibration", "not run (diagnostics.vsbc)", run.vsbc_section, vsbc)
    for name, section in (("Provenance", run.provenance_section(provenance or {})),
                          ("Configuration", run.config_section(config or {}))):
        (made.append(section) if section else absent.append((name, f"no {name.lower()}")))
    order = ["Fit", "Predictive performance", "Calibration", "Out-of-distribution detection",
             "Optimisation", "Posterior predictive check", "Simulation-based calibration"]
    summary = run.summary_section(sorted(verdicts.values(), key=lambda v: order.index(v.topic)
                                         if v.topic in order else len(order)))
    made = ([summary] if summary else []) + made
    return render_page(made + extra_sections, title=title, absent=absent,
                       subtitle=_subtitle(provenance))


def write_report(path, page):
    """Writes the page (UTF-8) atomically, creating parent folders: ``path`` holds the
    old page or the complete new one, never half of one.

    :returns: the path written.
    :rtype: pathlib.Path
    """
    return atomic_write(path, lambda f: f.write(page.encode("utf-8")))
