"""The web pages' charts: Plotly figures as <div>s, drawn by the plotly.js the page loads from /static.

Each function takes a service's plain result and returns the figure's HTML, or None when there
is nothing to draw. A figure is data in an attribute, drawn by /static/figures.js (truce.figures),
without the mode bar, so a page makes no request but to our own server and holds no inline script.
Every label that may come from what someone wrote passes through `plain`, so it shows as written.

Colours come from truce.palette (a team keeps its colour on every page and in the brief); every
axis says what it measures and in which unit; each chart carries a text alternative
(truce.figures.describe); months without data show as a band marked "no data", never as a gap
the axis jumps over.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from truce import palette
from truce.figures import BOTH, MARKETING, SALES, figure, html, plain

GOOD, BAD, MUTED = palette.GOOD, palette.BAD, palette.BEFORE
TEAM_COLOURS = {"sales": SALES, "marketing": MARKETING, "revops": palette.REVOPS, "shared": BOTH}
__all__ = ["BAD", "BOTH", "GOOD", "MARKETING", "MUTED", "SALES", "TEAM_COLOURS"]


def _words(key) -> str:
    return "(none)" if key is None else plain(str(key).replace("_", " "))


def month_label(month: str) -> str:
    """ "2026-03" as people write it: "Mar 2026"."""
    try:
        return dt.date(int(month[:4]), int(month[5:7]), 1).strftime("%b %Y")
    except (ValueError, TypeError):
        return plain(month)


def every_month(months: list[str]) -> list[str]:
    """The months from the first to the last given, none left out ("YYYY-MM")."""
    if not months:
        return []
    first, last = min(months), max(months)
    year, month = int(first[:4]), int(first[5:7])
    found = []
    while f"{year:04d}-{month:02d}" <= last:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def _no_data(fig, empty: list[bool]) -> None:
    """A grey band marked "no data" over each run of months (on a category axis) without a value."""
    start = None
    for i, blank in enumerate([*empty, False]):
        if blank and start is None:
            start = i
        elif not blank and start is not None:
            fig.add_vrect(x0=start - 0.5, x1=i - 0.5, fillcolor=palette.NO_DATA, opacity=1, layer="below",
                          line_width=0, annotation_text="no data", annotation_position="top left",
                          annotation_font={"size": 10, "color": palette.NEUTRAL})  # fmt: skip
            start = None


def funnel_volume(stages: list[dict], *, value_title: str = "contacts that entered the stage") -> str | None:
    """stages: [{"label", "entered", "team"}] in funnel order."""
    if not any(s["entered"] for s in stages):
        return None
    import plotly.graph_objects as go

    fig = figure(300, x_title=value_title, y_title="stage")
    fig.add_trace(
        go.Funnel(
            y=[plain(s["label"]) for s in stages],
            x=[s["entered"] for s in stages],
            textinfo="value+percent initial",
            marker={"color": [palette.team(s.get("team") or "shared") for s in stages]},
        )
    )
    return html(fig)


def monthly_lines(
    months: list[str],
    series: dict[str, list],
    title: str | None = None,
    percent: bool = False,
    colours: dict | None = None,
    *,
    value_title: str | None = None,
) -> str | None:
    """One line per series over the months; values may be None (no data that month).

    The axis shows every month from the first to the last; a month with no value in any series
    is a band marked "no data", so a quiet month is not mistaken for a zero or skipped over.
    """
    if not months or not any(v is not None for values in series.values() for v in values):
        return None
    import plotly.graph_objects as go

    shown = every_month(months)
    position = {m: i for i, m in enumerate(months)}
    labels = [month_label(m) for m in shown]
    fig = figure(280, title, x_title="month", y_title=value_title or ("share, %" if percent else "count"))
    for name, values in series.items():
        by_month = [values[position[m]] if m in position else None for m in shown]
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=by_month,
                name=_words(name),
                mode="lines+markers",
                line={"color": (colours or TEAM_COLOURS).get(name)},
            )
        )
    _no_data(fig, [all(v[position[m]] is None if m in position else True for v in series.values()) for m in shown])
    fig.update_xaxes(type="category")
    if percent:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return html(fig)


def bars(
    labels: list,
    values: list,
    *,
    title: str | None = None,
    colour: str = BOTH,
    horizontal: bool = True,
    percent: bool = False,
    colours: list[str] | None = None,
    label_title: str = "",
    value_title: str | None = None,
) -> str | None:
    if not labels or not any(values):
        return None
    import plotly.graph_objects as go

    shown = [_words(label) for label in labels]
    height = max(220, 26 * len(labels) + 70) if horizontal else 300
    value_title = value_title or ("share, %" if percent else "count")
    axes = (
        {"x_title": value_title, "y_title": label_title}
        if horizontal
        else {"x_title": label_title, "y_title": value_title}
    )
    fig = figure(height, title, **axes)
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
    labels: list,
    groups: dict[str, list],
    *,
    title: str | None = None,
    colours: dict | None = None,
    label_title: str = "",
    value_title: str = "amount",
) -> str | None:
    """Side-by-side bars per label, one colour per group (e.g. spend and revenue per channel)."""
    if not labels or not any(v for values in groups.values() for v in values):
        return None
    import plotly.graph_objects as go

    fig = figure(320, title, x_title=label_title, y_title=value_title)
    for name, values in groups.items():
        fig.add_trace(go.Bar(name=plain(name), x=[_words(label) for label in labels], y=values,
                             marker_color=(colours or {}).get(name, palette.SERIES.get(name))))  # fmt: skip
    return html(fig)


def stacked_by_team(
    rows: list[dict], *, x: str, team: str, value: str, title: str | None = None, value_title: str = "leads"
) -> str | None:
    """Stacked bars per month (x is "YYYY-MM"), one colour per team; months without any row marked "no data"."""
    if not rows:
        return None
    import plotly.graph_objects as go

    xs = every_month(sorted({r[x] for r in rows}))
    per_team: dict[str, dict] = defaultdict(dict)
    for r in rows:
        per_team[r[team]][r[x]] = r[value]
    fig = figure(280, title, x_title="month", y_title=value_title)
    labels = [month_label(m) for m in xs]
    for name, values in sorted(per_team.items()):
        fig.add_trace(go.Bar(name=_words(name), x=labels, y=[values.get(m) for m in xs],
                             marker_color=palette.team(name)))  # fmt: skip
    _no_data(fig, [all(m not in values for values in per_team.values()) for m in xs])
    fig.update_layout(barmode="stack")
    fig.update_xaxes(type="category")
    return html(fig)


def perception_gaps(gaps: list[dict], shown: int = 10) -> str | None:
    """Sales' minus marketing's mean rating per statement, the largest gaps first."""
    if not gaps:
        return None
    import plotly.graph_objects as go

    top = gaps[:shown]
    fig = figure(max(240, 30 * len(top) + 70), "Sales minus marketing, mean rating (1–5)",
                 x_title="gap in mean rating, points (sales higher → right)", y_title="statement")  # fmt: skip
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
    """Attainment so far (in the target's team colour) and forecast attainment (grey) per target,
    against the 100 % line."""
    rows = [r for r in rows if r.get("attainment") is not None]
    if not rows:
        return None
    import plotly.graph_objects as go

    labels = [plain(f"{r['period']} {r['team']} ") + _words(r["metric"]) for r in rows]
    fig = figure(max(220, 46 * len(rows) + 80), x_title="share of the target, %", y_title="target")
    fig.add_trace(go.Bar(name="so far", y=labels, x=[r["attainment"] for r in rows], orientation="h",
                         marker_color=[palette.team(r["team"]) for r in rows]))  # fmt: skip
    fig.add_trace(go.Bar(name="forecast", y=labels, x=[r["forecast_attainment"] for r in rows], orientation="h",
                         marker_color=palette.SERIES["forecast"]))  # fmt: skip
    fig.add_vline(x=1, line_dash="dash", line_color=palette.PROMISE)
    fig.update_xaxes(tickformat=".0%", rangemode="tozero")
    fig.update_yaxes(autorange="reversed")
    return html(fig)


def step_rates(steps: list[dict], worst: dict | None = None) -> str | None:
    """The funnel as conversion: one bar per step (stage → next), in the colour of the team that
    holds the lead in the first stage; the worst step in red. steps: truce.services.overview.funnel_steps."""
    shown = [s for s in steps if s["rate"] is not None]
    if not shown:
        return None
    import plotly.graph_objects as go

    labels = [f"{plain(s['from_label'])} →<br>{plain(s['to_label'])}" for s in shown]  # two lines: fits a phone
    fig = figure(max(240, 46 * len(shown) + 80), x_title="moved on, %",
                 y_title="step")  # fmt: skip
    worst_step = worst and (worst["from_stage"], worst["to_stage"])
    fig.add_trace(
        go.Bar(
            x=[s["rate"] for s in shown],
            y=labels,
            orientation="h",
            marker_color=[
                palette.BAD if (s["from_stage"], s["to_stage"]) == worst_step else palette.team(s["team"])
                for s in shown
            ],  # fmt: skip
            text=[f"{s['rate']:.0%} of {s['entered']:,}" for s in shown],
            textposition="auto",
        )
    )
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    return html(fig)
