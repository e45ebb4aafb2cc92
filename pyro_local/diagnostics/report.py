"""A self-contained HTML report of a trained run.

The page is a summary of verdicts, then a list of :class:`Section` objects: a title and
an HTML body. Each builder in the ``sections_*`` modules makes its sections from its
data, with the verdicts they contribute, or returns ``None`` when that data is absent,
in which case the page's contents say so. Other parts
of the library add their own sections by building :class:`Section` objects (with
:func:`figure_html` and :func:`table_html`) and passing them as ``extra_sections``.
Figures are embedded as base64 PNG and the style sheet is inline: the file needs nothing
but itself.

Example::

    html = build_report(idata, config={"lr": 1e-3})
    write_report("runs/demo/report.html", html)
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Section", "build_report", "figure_html", "render_page", "table_html",
           "write_report"]


@dataclass(frozen=True)
class Section:
    """One section of the report.

    :param str title: heading, plain text.
    :param str body: HTML fragment (already escaped).
    """

    title: str
    body: str

    @property
    def anchor(self):
        """The section's ``id`` in the page, made from its title."""
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "section"


def figure_html(fig, alt):
    """An ``<img>`` holding the Matplotlib figure as an embedded PNG.

    :param matplotlib.figure.Figure fig: the figure.
    :param str alt: text alternative, plain text.
    """
    from .figures import figure_data_uri

    return f'<img src="{figure_data_uri(fig)}" alt="{html.escape(alt)}">'


def table_html(header, rows):
    """An HTML table; cells are converted with :func:`str` and escaped.

    :param header: column names.
    :param rows: rows of cells.
    """
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 980px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; margin-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
.subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f0f0f0; }
img { max-width: 100%; height: auto; display: block; margin: .8em 0; }
.absent { color: #777; }
.good, .ok { color: #1a7f37; } .usable, .warn { color: #9a6700; }
.unreliable, .bad { color: #cf222e; } .info { color: #0b5cad; }
p.verdict { color: inherit; border-left: 4px solid; padding: .2em .6em; }
p.verdict.ok { border-color: #1a7f37; } p.verdict.warn { border-color: #d4a72c; }
p.verdict.bad { border-color: #cf222e; } p.verdict.info { border-color: #0b5cad; }
ul.summary { list-style: none; padding: 0; }
ul.summary li { margin: .45em 0; padding: .35em .6em; border-left: 4px solid; color: #222;
                background: #f7f7f7; }
ul.summary li.ok { border-color: #1a7f37; } ul.summary li.warn { border-color: #d4a72c; }
ul.summary li.bad { border-color: #cf222e; } ul.summary li.info { border-color: #0b5cad; }
.mark { display: inline-block; width: 1.3em; font-weight: bold; }
li.ok .mark { color: #1a7f37; } li.warn .mark { color: #9a6700; }
li.bad .mark { color: #cf222e; } li.info .mark { color: #0b5cad; }
.advice { color: #555; }
nav ul { padding-left: 1.2em; }
"""


def render_page(sections: Sequence[Section], title="pyro-local run report", absent=(),
                subtitle=""):
    """The whole HTML page.

    :param sections: the sections, in order.
    :param str title: page title.
    :param absent: ``(section title, reason)`` pairs of sections left out, listed in the
        page's contents.
    :param str subtitle: a line under the title (plain text).
    :rtype: str
    """
    items = "".join(
        f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections
    )
    items += "".join(
        f'<li class="absent">{html.escape(name)}: not in this report ({html.escape(why)})</li>'
        for name, why in absent
    )
    body = "".join(
        f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{s.body}</section>'
        for s in sections
    )
    sub = f'<p class="subtitle">{html.escape(subtitle)}</p>' if subtitle else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{sub}<nav><h2>Contents</h2><ul>{items}</ul></nav>"
        f"{body}</body></html>\n"
    )


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
    :param extra_sections: further :class:`Section` objects.
    :param str title: page title.
    :rtype: str
    """
    from . import sections_fit as fit
    from . import sections_posterior as post
    from . import sections_predictive as pred
    from . import sections_run as run
    from .held_out import GROUP
    from .provenance import CONFIG_ATTR, METRICS_ATTR, PROVENANCE_ATTR, read_attr

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
    """Writes the page (UTF-8), creating parent folders.

    :returns: the path written.
    :rtype: pathlib.Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
