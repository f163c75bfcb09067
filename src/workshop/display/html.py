"""The building blocks every view is made of: HTML and MIME bundles that display themselves, and the palette.

    from workshop.display.html import Html, Bundle, no_math, STATUS_COLOURS
    Html("<table>...</table>", plain="what a terminal shows")
    Bundle({"text/vnd.mermaid": ..., "image/svg+xml": ..., "text/plain": ...})
"""

from __future__ import annotations

import html

from workshop.aws.executions import CAUGHT, FAILED, IN_PROGRESS, NOT_RUN, SUCCEEDED

# A state's status in an execution, as every view colours it (graph, tables, timeline, live progress).
STATUS_COLOURS = {SUCCEEDED: "#2e7d32", FAILED: "#c62828", CAUGHT: "#ef6c00",
                  IN_PROGRESS: "#1565c0", NOT_RUN: "#9e9e9e"}


# JupyterLab, and its HTML export, right-align every table cell: a table of sentences reads from the left.
TEXT_CELL = "style='text-align:left;vertical-align:top'"


def no_math(fragment: str) -> str:
    """HTML whose `$` signs stay text: JupyterLab and nbconvert's exports typeset `$...$` as LaTeX, which
    turns JSONPath such as `'$.taskresult.action'` in a message into formulas."""
    return f"<div class='mathjax_ignore tex2jax_ignore'>{fragment}</div>"


class Html:
    """An HTML fragment that displays itself in a notebook."""

    def __init__(self, text: str, plain: str = ""):
        self.text, self.plain = text, plain or "(HTML output)"

    def _repr_html_(self) -> str:
        return no_math(self.text)

    def __repr__(self) -> str:
        return self.plain


class Bundle:
    """A Jupyter MIME bundle (e.g. Mermaid + SVG) that displays itself."""

    def __init__(self, data: dict):
        self.data = dict(data)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.data

    def __repr__(self) -> str:
        return self.data.get("text/plain", "(figure)")


def table_html(headers, rows) -> str:
    """A plain table: one header row, then every row's cells as text."""
    head = "".join(f"<th {TEXT_CELL}>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td {TEXT_CELL}>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
