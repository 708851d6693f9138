"""Render the brief's data as one self-contained HTML page, or as Markdown.

The HTML carries its own small stylesheet and plotly.js (from the installed plotly package)
inlined once in a <script id="plotly-js">; it references no URL, font or image, so opening it
makes no request. The Markdown has the same sections and numbers, as tables, without charts.
"""

from __future__ import annotations

import jinja2
from markupsafe import Markup

from truce.brief.format import FILTERS

TITLES = {
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


def _plotly_js() -> str:
    """plotly.js as the installed plotly package ships it, safe inside a <script> element."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</script", "<\\/script")


def render_html(brief: dict) -> str:
    from truce.brief.charts import all_charts

    charts = {name: Markup(html) if html else None for name, html in all_charts(brief).items()}
    template = _environment(autoescape=True).get_template("brief.html.j2")
    return template.render(b=brief, s=brief["sections"], titles=TITLES, owners=OWNERS, charts=charts,
                           plotly_js=Markup(_plotly_js()))  # fmt: skip


def render_markdown(brief: dict) -> str:
    template = _environment(autoescape=False).get_template("brief.md.j2")
    return template.render(b=brief, s=brief["sections"], titles=TITLES, owners=OWNERS)
