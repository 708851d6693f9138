"""The web pages' charts: Plotly figures as <div>s, drawn by the plotly.js the page loads from /static.

Each function takes a service's plain result and returns the figure's HTML, or None when there
is nothing to draw. A figure is data in an attribute, drawn by /static/figures.js (truce.figures),
without the mode bar, so a page makes no request but to our own server and holds no inline script.
Every label that may come from what someone wrote passes through `plain`, so it shows as written.
"""

from __future__ import annotations

from collections import defaultdict

from truce.figures import BOTH, MARKETING, SALES, figure, html, plain

GOOD, BAD, MUTED = "#2f855a", "#c53030", "#a0aec0"
TEAM_COLOURS = {"sales": SALES, "marketing": MARKETING, "revops": "#2c7a7b"}


def _words(key) -> str:
    return "(none)" if key is None else plain(str(key).replace("_", " "))


def funnel_volume(stages: list[dict]) -> str | None:
    """stages: [{"label", "entered"}] in funnel order."""
    if not any(s["entered"] for s in stages):
        return None
    import plotly.graph_objects as go

    fig = figure(300)
    fig.add_trace(
        go.Funnel(
            y=[plain(s["label"]) for s in stages],
            x=[s["entered"] for s in stages],
            textinfo="value+percent initial",
            marker={"color": [TEAM_COLOURS.get(s.get("team"), BOTH) for s in stages]},
        )
    )
    return html(fig)


def monthly_lines(
    months: list[str],
    series: dict[str, list],
    title: str | None = None,
    percent: bool = False,
    colours: dict | None = None,
) -> str | None:
    """One line per series over the months; values may be None (a gap)."""
    if not months or not any(v is not None for values in series.values() for v in values):
        return None
    import plotly.graph_objects as go

    fig = figure(280, title)
    for name, values in series.items():
        fig.add_trace(
            go.Scatter(
                x=months,
                y=values,
                name=_words(name),
                mode="lines+markers",
                line={"color": (colours or TEAM_COLOURS).get(name)},
            )
        )
    if percent:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(tickformat="%b %Y")
    return html(fig)


def bars(
    labels: list,
    values: list,
    *,
    title: str | None = None,
    colour: str = MARKETING,
    horizontal: bool = True,
    percent: bool = False,
    colours: list[str] | None = None,
) -> str | None:
    if not labels or not any(values):
        return None
    import plotly.graph_objects as go

    shown = [_words(label) for label in labels]
    height = max(220, 26 * len(labels) + 70) if horizontal else 300
    fig = figure(height, title)
    text = [f"{v:.0%}" if percent else f"{v:,.0f}" for v in values]
    if horizontal:
        fig.add_trace(
            go.Bar(x=values, y=shown, orientation="h", marker_color=colours or colour, text=text, textposition="auto")
        )
        fig.update_yaxes(autorange="reversed")
    else:
        fig.add_trace(go.Bar(x=shown, y=values, marker_color=colours or colour, text=text, textposition="outside"))
    if percent:
        (fig.update_xaxes if horizontal else fig.update_yaxes)(tickformat=".0%")
    fig.update_layout(showlegend=False)
    return html(fig)


def grouped(
    labels: list, groups: dict[str, list], *, title: str | None = None, colours: dict | None = None
) -> str | None:
    """Side-by-side bars per label, one colour per group (e.g. spend and revenue per channel)."""
    if not labels or not any(v for values in groups.values() for v in values):
        return None
    import plotly.graph_objects as go

    fig = figure(320, title)
    for name, values in groups.items():
        fig.add_trace(go.Bar(name=plain(name), x=[_words(label) for label in labels], y=values,
                             marker_color=(colours or {}).get(name)))  # fmt: skip
    return html(fig)


def stacked_by_team(rows: list[dict], *, x: str, team: str, value: str, title: str | None = None) -> str | None:
    """Stacked bars per x (a month), one colour per team."""
    if not rows:
        return None
    import plotly.graph_objects as go

    xs = sorted({r[x] for r in rows})
    per_team: dict[str, dict] = defaultdict(dict)
    for r in rows:
        per_team[r[team]][r[x]] = r[value]
    fig = figure(280, title)
    for name, values in sorted(per_team.items()):
        fig.add_trace(go.Bar(name=_words(name), x=xs, y=[values.get(m, 0) for m in xs],
                             marker_color=TEAM_COLOURS.get(name, MUTED)))  # fmt: skip
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformat="%b %Y")
    return html(fig)


def perception_gaps(gaps: list[dict], shown: int = 10) -> str | None:
    """Sales' minus marketing's mean rating per statement, the largest gaps first."""
    if not gaps:
        return None
    import plotly.graph_objects as go

    top = gaps[:shown]
    fig = figure(max(240, 30 * len(top) + 70), "Sales minus marketing, mean rating (1–5)")
    fig.add_trace(
        go.Bar(
            x=[g["gap"] for g in top],
            y=[f"{plain(g['statement'].upper())} {_words(g['theme'])}" for g in top],
            orientation="h",
            marker_color=[SALES if g["gap"] > 0 else MARKETING for g in top],
            text=[f"{g['gap']:+.2f}" for g in top],
            textposition="auto",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    return html(fig)


def attainment(rows: list[dict]) -> str | None:
    """Attainment so far and forecast attainment per target, against the 100 % line."""
    rows = [r for r in rows if r.get("attainment") is not None]
    if not rows:
        return None
    import plotly.graph_objects as go

    labels = [plain(f"{r['period']} {r['team']} ") + _words(r["metric"]) for r in rows]
    fig = figure(max(220, 46 * len(rows) + 80))
    fig.add_trace(go.Bar(name="so far", y=labels, x=[r["attainment"] for r in rows], orientation="h",
                         marker_color=MARKETING))  # fmt: skip
    fig.add_trace(go.Bar(name="forecast", y=labels, x=[r["forecast_attainment"] for r in rows], orientation="h",
                         marker_color=MUTED))  # fmt: skip
    fig.add_vline(x=1, line_dash="dash", line_color=GOOD)
    fig.update_xaxes(tickformat=".0%", rangemode="tozero")
    fig.update_yaxes(autorange="reversed")
    return html(fig)
