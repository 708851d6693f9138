"""Render the brief's data as one self-contained HTML page, or as Markdown.

The HTML carries its own small stylesheet (brief.css), plotly.js (from the installed plotly
package) inlined once in a <script id="plotly-js">, and the script that draws the charts from
their data (truce.figures, brief.js); it references no URL, font or image, so opening it makes no
request. Its Content-Security-Policy (a <meta> in the file, and the web app's header when it
serves it) allows exactly those inline scripts and styles by their hashes: were a name in the
brief ever to slip through unescaped as a <script>, a browser would not run it.

Shown inside the web app (/brief/view), the page instead loads plotly.js from the server's
cached /static URL (`plotly_src`): inlined, it made every view a 4.9 MB page; the downloaded
file keeps it inline so that it opens offline.

The Markdown has the same sections and numbers, as tables, without charts; what users wrote is
escaped for it (truce.brief.markdown).
"""

from __future__ import annotations

import functools
from importlib import resources

import jinja2
from markupsafe import Markup

from truce.brief.format import FILTERS, NOTHING

TITLES = {
    "last_meeting": "Last meeting's decisions",
    "initiatives": "Initiatives under way",
    "decisions": "Decisions needed",
    "targets": "Shared target and forecast",
    "funnel": "Movement through the funnel",
    "sla": "SLA breaches by side",
    "cold_leads": "Cold leads by team",
    "stalled": "Stalled opportunities",
    "feedback": "Feedback themes and marketing's answers",
    "campaigns": "Campaign results",
    "diagnostic": "The diagnostic's latest state",
    "account_plans": "Key accounts: joint account plans",
}
OWNERS = {"sales": "Sales", "marketing": "Marketing", "both": "Both teams", "revops": "RevOps"}


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("truce.brief", "templates"),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def _markdown_environment() -> jinja2.Environment:
    """Every value printed is escaped for Markdown (truce.brief.markdown), as HTML autoescaping does for HTML."""
    from truce.brief import markdown

    env = _environment(autoescape=False)
    env.finalize = markdown.escape
    env.filters.update(
        {
            name: markdown.formatted(FILTERS[name])
            for name in ("money", "pct", "num", "signed", "day", "moment", "indicator", "moved")
        }
    )
    env.filters["cell"] = lambda value: NOTHING if value is None else value  # escaping keeps it in its cell
    return env


@functools.cache
def _inline() -> dict[str, str]:
    """The brief's inline stylesheet and scripts, each exactly as the page holds it."""
    from plotly.offline import get_plotlyjs

    from truce.figures import script

    return {
        "style": _source("brief.css"),
        "plotly_js": get_plotlyjs().replace("</script", "<\\/script"),  # safe inside a <script> element
        "figures_js": script() + _source("brief.js"),
    }


def _source(name: str) -> str:
    return resources.files("truce.brief").joinpath("templates", name).read_text(encoding="utf-8")


@functools.cache
def policy(served: bool = False) -> str:
    """The brief's Content-Security-Policy: nothing from anywhere, but its own inline scripts and styles
    (`served`: and scripts from the server that serves it, for plotly.js loaded from /static)."""
    from truce.figures import plotly_style_hashes, sha256

    inline = _inline()
    scripts = " ".join(
        f"'{sha256(inline[name])}'" for name in (("figures_js",) if served else ("plotly_js", "figures_js"))
    )
    if served:
        scripts = f"'self' {scripts}"
    styles = " ".join(f"'{source}'" for source in (sha256(inline["style"]), *plotly_style_hashes()))
    return f"default-src 'none'; script-src {scripts}; style-src {styles}; img-src data:; base-uri 'none'; form-action 'none'"


def render_html(brief: dict, *, plotly_src: str | None = None) -> str:
    """The brief as one page; with `plotly_src` (a URL of the server that shows it) plotly.js is
    loaded from there instead of inlined, and the page's policy is `policy(served=True)`."""
    from truce.brief.charts import all_charts

    charts: dict[str, Markup | None] = {name: Markup(html) if html else None for name, html in all_charts(brief).items()}
    inline: dict[str, Markup | None] = {name: Markup(text) for name, text in _inline().items()}
    if plotly_src:
        inline["plotly_js"] = None
    template = _environment(autoescape=True).get_template("brief.html.j2")
    return template.render(b=brief, s=brief["sections"], titles=TITLES, owners=OWNERS, charts=charts,
                           policy=policy(served=bool(plotly_src)), plotly_src=plotly_src, **inline)  # fmt: skip


def render_markdown(brief: dict) -> str:
    template = _markdown_environment().get_template("brief.md.j2")
    return template.render(b=brief, s=brief["sections"], titles=TITLES, owners=OWNERS)
