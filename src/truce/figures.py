"""What every chart of truce shares — the web pages' and the exported brief's: team colours, type,
and Plotly figures rendered as data, drawn by one script of ours (figures.js).

A figure leaves here as `<div class="plotly-graph-div" data-figure="{…}">`: its JSON is an HTML
attribute, escaped like any other, so a name in a chart can never close a tag or start a script,
and the page needs no inline script (its Content-Security-Policy allows none). figures.js — served
from /static by the web app, inlined by the brief — hands each one to plotly.js.

Plotly reads a few HTML tags inside labels (`<br>`, `<b>`, `<a href>`); `plain` makes what users
wrote show as written.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from importlib import resources

from markupsafe import Markup

from truce.palette import MARKETING, SALES
from truce.palette import SHARED as BOTH

__all__ = ["BOTH", "MARKETING", "SALES", "describe", "figure", "html", "plain"]
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif'
CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}
# plotly.js adds its style rules to an empty <style> element it creates (CSSOM, not text): a policy
# must allow that empty element, which is all this hash allows.
EMPTY_STYLE = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
_BUILT_IN_STYLE = re.compile(r'createElement\("style"\);\w+\.id="[0-9a-f]+",\w+\.textContent=\'([^\'\\]*)\'')


def figure(height: int = 300, title: str | None = None, *, x_title: str | None = None, y_title: str | None = None):
    """An empty figure in our style: white, our type, legend above, grouped bars; the axes titled
    (what is counted, and in which unit), so a reader need not guess."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(
        template="plotly_white",
        height=height,
        title={"text": title, "x": 0, "font": {"size": 14}} if title else None,
        margin={"l": 8, "r": 8, "t": 40 if title else 32, "b": 8},
        font={"family": FONT, "size": 12, "color": "#1d2430"},
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        barmode="group",
        bargap=0.25,
    )
    fig.update_xaxes(automargin=True, title={"text": x_title, "font": {"size": 12}} if x_title else None)
    fig.update_yaxes(automargin=True, title={"text": y_title, "font": {"size": 12}} if y_title else None)
    return fig


def plain(text) -> str:
    """Text a user wrote, for a label, a legend or a title: plotly shows `&lt;b&gt;` as "<b>"."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html(fig, alt: str | None = None) -> Markup:
    """The figure as a <div> carrying its data, which figures.js draws, and its text alternative:
    `alt`, or what `describe` reads from the figure, for a screen reader and for a page printed
    without scripts."""
    data = fig.to_json(validate=False)
    return Markup(
        '<figure class="chart-figure"><div class="plotly-graph-div" data-figure="{}" data-config="{}" role="img"'
        ' aria-label="{}"></div><figcaption class="visually-hidden">{}</figcaption></figure>'
    ).format(data, json.dumps(CONFIG), _short(alt or describe(fig)), alt or describe(fig))


SHOWN_POINTS = 24  # a text alternative names at most this many points per series


def describe(fig) -> str:
    """The chart in words: its title, what each axis measures, and each series' values in order."""
    layout = fig.layout
    parts = [_unplain(layout.title.text) if layout.title and layout.title.text else "Chart"]
    axes = [(name, getattr(layout, f"{name}axis").title.text) for name in ("x", "y")]
    parts += [f"{name} axis: {_unplain(text)}" for name, text in axes if text]
    for trace in fig.data:
        points = _points(trace)
        if not points:
            continue
        shown = "; ".join(f"{_unplain(label)}: {_value(value)}" for label, value in points[:SHOWN_POINTS])
        more = f"; and {len(points) - SHOWN_POINTS} more" if len(points) > SHOWN_POINTS else ""
        name = f"{_unplain(trace.name)} — " if getattr(trace, "name", None) else ""
        parts.append(f"{name}{shown}{more}")
    return ". ".join(parts) + "."


def _points(trace) -> list[tuple]:
    """(label, value) pairs of a trace, the category first whichever way the bars run."""
    x, y = getattr(trace, "x", None), getattr(trace, "y", None)
    if x is None or y is None:
        return []
    if getattr(trace, "orientation", None) == "h" or trace.type == "funnel":
        x, y = y, x
    return [(label, value) for label, value in zip(x, y, strict=False) if value is not None]


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _unplain(text) -> str:
    """A label as people read it: plotly's line breaks as spaces, `plain`'s escapes undone (the page escapes it)."""
    text = str(text).replace("<br>", " ")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def script() -> str:
    """figures.js: the one script that draws every figure of a page."""
    return resources.files("truce").joinpath("figures.js").read_text(encoding="utf-8")


def sha256(text: str) -> str:
    """A Content-Security-Policy source allowing an inline <script> or <style> of exactly `text`."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@functools.cache
def plotly_style_hashes() -> tuple[str, ...]:
    """Policy sources for the styles plotly.js adds to a page: the empty element it fills through
    CSSOM, and the stylesheets it ships as text (today one, for its map charts). Read from the
    installed plotly.js, so an upgrade brings its own; a browser test fails if one is missed."""
    from plotly.offline import get_plotlyjs

    shipped = _BUILT_IN_STYLE.findall(get_plotlyjs())
    return (EMPTY_STYLE, *(sha256(text) for text in shipped))
