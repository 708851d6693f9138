"""The brief's charts: Plotly figures as <div>s drawn by the plotly.js the page inlines once.

Each function takes a section of the brief's data and returns the figure's HTML, or None when
there is nothing to draw. A figure is data in an attribute, drawn by the figures.js the page
inlines (truce.figures), without the mode bar, so nothing on the page points anywhere. Names that
people wrote pass through `plain`, so a chart shows them as written.

Colours are truce.palette's, as on the web pages: a team's bars in the team's colour, this period
in dark slate and the one before in grey (never blue, which is marketing's), the promise in green.
Every axis says what it measures and in which unit.
"""

from __future__ import annotations

from truce import palette
from truce.brief.format import words
from truce.figures import MARKETING, SALES, figure, html, plain

BEFORE, NOW, PROMISE = palette.BEFORE, palette.NOW, palette.PROMISE
TEAM_COLOURS = {"sales": SALES, "marketing": MARKETING, "shared": palette.SHARED}


def _bar(fig, *, name: str, x, y, colour: str | list[str], horizontal: bool = False, text=None) -> None:
    import plotly.graph_objects as go

    x, y = (y, x) if horizontal else (x, y)
    fig.add_trace(
        go.Bar(
            name=name,
            x=x,
            y=y,
            orientation="h" if horizontal else "v",
            marker_color=colour,
            text=text,
            textposition=("auto" if horizontal else "outside") if text else None,
            textangle=0,
            cliponaxis=False,
        )
    )


def _labels(names: list[str], width: int = 26) -> list[str]:
    """Names wrapped on two lines for a bar chart's axis; names that would read alike stay apart."""
    labels = []
    for name in names:
        words_left, lines = str(name).split(), [""]
        for word in words_left:
            if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
                lines.append("")
            lines[-1] = f"{lines[-1]} {plain(word)}".strip()
        label = "<br>".join(lines[:2]) + ("…" if len(lines) > 2 else "")
        while label in labels:
            label += " "  # plotly merges equal categories; a trailing space keeps them apart
        labels.append(label)
    return labels


def _whole_numbers(fig, axis: str, largest: float) -> None:
    """Ticks on whole numbers, a round step (1, 2, 5, 10, 20, …) giving at most six of them."""
    step = 1
    while largest / step > 6:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    (fig.update_xaxes if axis == "x" else fig.update_yaxes)(tick0=0, dtick=step, rangemode="tozero")


def targets(section: dict) -> str | None:
    rows = [r for r in section.get("rows", []) if r["attainment"] is not None]
    if not rows:
        return None
    labels = _labels([f"{r['metric']} {r['period']} ({r['team']})" for r in rows], width=18)
    fig = figure(height=max(200, 90 + 60 * len(rows)), x_title="share of the target, %", y_title="target")
    actual = [100 * r["attainment"] for r in rows]
    forecast = [None if r["forecast_attainment"] is None else 100 * r["forecast_attainment"] for r in rows]
    # As on the targets page: so far in the target's team colour, the forecast in grey.
    _bar(fig, name="Actual, % of target", x=labels, y=actual, colour=[palette.team(r["team"]) for r in rows],
         horizontal=True, text=[f"{v:.0f}%" for v in actual])  # fmt: skip
    _bar(fig, name="Forecast, % of target", x=labels, y=forecast, colour=palette.SERIES["forecast"], horizontal=True,
         text=[None if v is None else f"{v:.0f}%" for v in forecast])  # fmt: skip
    fig.add_vline(x=100, line_color=PROMISE, line_dash="dash")
    fig.update_yaxes(autorange="reversed")
    largest = max([100.0, *actual, *(v for v in forecast if v is not None)])
    fig.update_xaxes(ticksuffix="%", range=[0, largest * 1.08])
    return html(fig)


def funnel(section: dict, now: str, before: str) -> str | None:
    rows = section.get("rows", [])
    if not any(r["entered"] or r["previous"] for r in rows):
        return None
    fig = figure(x_title="stage", y_title="contacts that entered the stage")
    labels = [plain(words(r["stage"])) for r in rows]
    _bar(fig, name=before, x=labels, y=[r["previous"] for r in rows], colour=BEFORE)
    _bar(fig, name=now, x=labels, y=[r["entered"] for r in rows], colour=NOW, text=[str(r["entered"]) for r in rows])
    _whole_numbers(fig, "y", max(max(r["entered"], r["previous"]) for r in rows))
    return html(fig)


def sla(section: dict) -> str | None:
    sales, marketing = section["sales"], section["marketing"]
    bars = [
        ("Sales: first contact in time", sales["first_touch"]["compliance"], SALES, 1.0),
        ("Sales: decision in time", sales["decision"]["compliance"], SALES, 1.0),
        ("Marketing: MQLs accepted", marketing["acceptance_rate"], MARKETING, marketing["min_acceptance_rate"]),
    ]
    bars = [b for b in bars if b[1] is not None]
    if not bars:
        return None
    import plotly.graph_objects as go

    fig = figure(height=240, x_title="kept in time or accepted, %", y_title="promise")
    labels = _labels([b[0] for b in bars], 16)
    bars = [(label, *rest) for label, (_name, *rest) in zip(labels, bars, strict=True)]
    for label, share, colour, _promise in bars:
        _bar(fig, name=label, x=[label], y=[100 * share], colour=colour, horizontal=True, text=[f"{100 * share:.0f}%"])
    fig.add_trace(
        go.Scatter(
            name="Promised",
            x=[100 * b[3] for b in bars],
            y=[b[0] for b in bars],
            mode="markers",
            marker={"symbol": "line-ns-open", "size": 26, "color": PROMISE, "line": {"width": 3}},
        )
    )
    fig.update_layout(barmode="overlay", showlegend=False)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(ticksuffix="%", range=[0, 105])
    return html(fig)


def cold_leads(section: dict, now: str, before: str) -> str | None:
    rows = section.get("by_team", [])
    if not any(r["went_cold"] or r["previous"] for r in rows):
        return None
    fig = figure(height=260, x_title="team that held the lead", y_title="leads gone cold")
    teams = [plain(r["team"]) for r in rows]
    _bar(fig, name=before, x=teams, y=[r["previous"] for r in rows], colour=BEFORE)
    _bar(fig, name=now, x=teams, y=[r["went_cold"] for r in rows], colour=[palette.team(r["team"]) for r in rows],
         text=[str(r["went_cold"]) for r in rows])  # fmt: skip
    _whole_numbers(fig, "y", max(max(r["went_cold"], r["previous"]) for r in rows))
    return html(fig)


def campaigns(section: dict) -> str | None:
    # No campaign earned revenue in the window: spend beside its (zero) revenue still says where it went.
    rows = section.get("top_by_revenue") or section.get("top_by_spend") or []
    if not rows:
        return None
    currency = section["currency"]
    fig = figure(height=max(220, 80 + 56 * len(rows)), x_title=currency, y_title="campaign")
    labels = _labels([r["label"] or r["key"] for r in rows])
    _bar(fig, name=f"Spend ({currency})", x=labels, y=[r["spend"] for r in rows], colour=BEFORE, horizontal=True)
    _bar(fig, name=f"Attributed revenue ({currency})", x=labels, y=[r["revenue"] for r in rows], colour=NOW,
         horizontal=True)  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(rangemode="tozero", separatethousands=True)
    return html(fig)


def feedback(section: dict) -> str | None:
    rows = section.get("counts", [])
    if not rows:
        return None
    fig = figure(height=max(180, 60 + 34 * len(rows)), x_title="items", y_title="kind")
    _bar(fig, name="items", x=[plain(words(r["kind"])) for r in rows], y=[r["count"] for r in rows], colour=SALES,
         horizontal=True, text=[str(r["count"]) for r in rows])  # fmt: skip
    fig.update_layout(showlegend=False)
    fig.update_yaxes(autorange="reversed")
    _whole_numbers(fig, "x", max(r["count"] for r in rows))
    return html(fig)


def diagnostic(section: dict) -> str | None:
    gaps = section.get("gaps") or []
    if not gaps:
        return None
    fig = figure(height=max(220, 80 + 56 * len(gaps)), x_title="mean rating, 1–5", y_title="statement")
    labels = _labels([g["text"] for g in gaps])
    _bar(fig, name="Sales", x=labels, y=[g["sales"] for g in gaps], colour=SALES, horizontal=True)
    _bar(fig, name="Marketing", x=labels, y=[g["marketing"] for g in gaps], colour=MARKETING, horizontal=True)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(range=[0, 5.2])
    return html(fig)


def all_charts(brief: dict) -> dict[str, str | None]:
    """Every chart of the brief, by section; a missing section draws nothing."""
    sections = brief["sections"]
    now, before = brief["period"]["label"], brief["previous"]["label"]

    def ready(name: str) -> dict | None:
        found = sections.get(name, {})
        return found if found.get("available") else None

    drawn = {
        "targets": lambda s: targets(s),
        "funnel": lambda s: funnel(s, now, before),
        "sla": lambda s: sla(s),
        "cold_leads": lambda s: cold_leads(s, now, before),
        "campaigns": lambda s: campaigns(s),
        "feedback": lambda s: feedback(s),
        "diagnostic": lambda s: diagnostic(s),
    }
    return {name: (draw(ready(name)) if ready(name) else None) for name, draw in drawn.items()}
