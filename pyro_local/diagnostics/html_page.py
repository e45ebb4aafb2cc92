"""The HTML primitives of the report: a :class:`Section`, a table, an embedded figure
and the page around them (with its inline style sheet).

The report (:mod:`~pyro_local.diagnostics.report`) and every ``sections_*`` module build
on these; other parts of the library use them to make ``extra_sections``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .figures import figure_data_uri

__all__ = ["Section", "figure_html", "render_page", "table_html"]


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
