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

SALES, MARKETING, BOTH = "#c05621", "#2b6cb0", "#553c9a"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif'
CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}
# plotly.js adds its style rules to an empty <style> element it creates (CSSOM, not text): a policy
# must allow that empty element, which is all this hash allows.
EMPTY_STYLE = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
_BUILT_IN_STYLE = re.compile(r'createElement\("style"\);\w+\.id="[0-9a-f]+",\w+\.textContent=\'([^\'\\]*)\'')


def figure(height: int = 300, title: str | None = None):
    """An empty figure in our style: white, our type, legend above, grouped bars."""
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
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def plain(text) -> str:
    """Text a user wrote, for a label, a legend or a title: plotly shows `&lt;b&gt;` as "<b>"."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html(fig) -> Markup:
    """The figure as a <div> carrying its data; figures.js draws it."""
    data = fig.to_json(validate=False)
    return Markup('<div class="plotly-graph-div" data-figure="{}" data-config="{}"></div>').format(
        data, json.dumps(CONFIG)
    )


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
