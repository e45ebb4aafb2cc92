"""A self-contained HTML report of a trained run.

The page is a list of :class:`Section` objects: a title and an HTML body. Each builder
in :mod:`pyro_local.diagnostics.sections` makes one section from its data, or returns
``None`` when that data is absent, in which case the page's contents say so. Other parts
of the library add their own sections by building :class:`Section` objects (with
:func:`figure_html` and :func:`table_html`) and passing them as ``extra_sections``.
Figures are embedded as base64 PNG and the style sheet is inline: the file needs nothing
but itself.

Example::

    html = build_report(idata, config={"lr": 1e-3}, weight_scales={"fc1": (rows, cols)})
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
       max-width: 960px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f0f0f0; }
img { max-width: 100%; height: auto; display: block; margin: .8em 0; }
.absent { color: #777; }
.good { color: #1a7f37; } .usable { color: #9a6700; } .unreliable { color: #cf222e; }
nav ul { padding-left: 1.2em; }
"""


def render_page(sections: Sequence[Section], title="pyro-local run report", absent=()):
    """The whole HTML page.

    :param sections: the sections, in order.
    :param str title: page title.
    :param absent: ``(section title, reason)`` pairs of sections left out, listed in the
        page's contents.
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
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><nav><h2>Contents</h2><ul>{items}</ul></nav>"
        f"{body}</body></html>\n"
    )


def build_report(
    idata=None,
    *,
    history=None,
    calibration=None,
    ood=None,
    weight_scales=None,
    sparsity=None,
    config=None,
    extra_sections=(),
    title="pyro-local run report",
):
    """The report of a trained run, from whatever of its data is given.

    Sections, in order: per-layer optimisation history, PSIS k-hat overall and per
    layer, LOO, reliability diagram, out-of-distribution detection, posterior
    predictive checks, weight-posterior scale spectra, sparsity of rectified layers,
    configuration, then ``extra_sections``. k-hat and LOO are computed from ``idata``,
    one fit (chain) at a time.

    :param arviz.InferenceData idata: from
        :func:`~pyro_local.diagnostics.inference_data.to_inference_data`.
    :param dict history: layer -> loss per step; defaults to ``idata``'s
        ``optimization_history``.
    :param CalibrationSummary calibration: from
        :func:`~pyro_local.diagnostics.calibration.calibration_summary`.
    :param tuple ood: ``(score_in, score_out, score_name)`` for out-of-distribution
        detection.
    :param dict weight_scales: layer -> (row scales, column scales) of MatrixNormal
        weight posteriors.
    :param dict sparsity: layer -> fraction of exactly-zero units.
    :param dict config: the run's configuration (nested dicts are flattened).
    :param extra_sections: further :class:`Section` objects.
    :param str title: page title.
    :rtype: str
    """
    from . import sections as s

    if idata is not None and not hasattr(idata, "groups"):
        raise TypeError(f"idata: expected an arviz.InferenceData, got {type(idata).__name__}")
    extra_sections = list(extra_sections)
    if not all(isinstance(x, Section) for x in extra_sections):
        raise TypeError("extra_sections: expected Section objects")
    if history is None and idata is not None and "optimization_history" in idata.groups():
        history = idata["optimization_history"]
    builders = [
        ("Optimisation history", "no per-layer loss history", s.history_section, history),
        ("Pareto k-hat", "no sample_stats with log weights", s.khat_section, idata),
        ("Leave-one-out cross-validation", "no log_likelihood", s.loo_section, idata),
        ("Calibration", "no classification predictions", s.calibration_section, calibration),
        ("Out-of-distribution detection", "no OOD scores", s.ood_section, ood),
        ("Posterior predictive checks", "no posterior_predictive", s.ppc_section, idata),
        ("Weight posteriors", "no weight scales", s.weight_scale_section, weight_scales),
        ("Sparsity of rectified layers", "no sparsity data", s.sparsity_section, sparsity),
        ("Configuration", "no configuration", s.config_section, config),
    ]
    made, absent = [], []
    for name, reason, builder, data in builders:
        section = None if data is None else builder(data)
        if section is None:
            absent.append((name, reason))
        else:
            made.append(section)
    return render_page(made + extra_sections, title=title, absent=absent)


def write_report(path, page):
    """Writes the page (UTF-8), creating parent folders.

    :returns: the path written.
    :rtype: pathlib.Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
