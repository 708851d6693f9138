"""The funnel split by channel (or segment, team, month) as people read it: one row per channel, one
column per step between stages, the cohort conversion in each cell — and the same as a heat map.

The funnel report lists a row per (stage, slice); a dozen channels and six stages made a page
9,700 px long. Here the same numbers (the report's cohort conversion, nothing recomputed but the
all-channels row, which adds up the channels' counts) fit one screen.
"""

from __future__ import annotations

from truce.figures import MARKETING, figure, html, plain
from truce.web.labels import channel_label, team_label

# A step is marked weak for a channel when fewer than this many entered it: a rate of 1 of 3
# says little, so such a cell is never called out as the worst.
FEW = 10


def name_of(by: str, value) -> str:
    if by == "channel":
        return channel_label(value)
    if by == "team":
        return team_label(value)
    return "(none)" if value is None else str(value)


def slice_view(report: dict, labels: dict) -> dict | None:
    """{"by", "steps": [{"from", "to", "label"}], "rows": [{"name", "entered", "cells"}], "total",
    "velocity": {"stages", "rows": [{"name", "days"}]}, "chart"}; days are median days in the stage."""
    if report["by"] is None:
        return None
    stages = report["stages"]
    steps = list(zip(stages, stages[1:], strict=False))
    cohort = {(r["from_stage"], r["to_stage"], r["slice"]): r for r in report["conversion"]["cohort"]["total"]}
    entered = {(r["stage"], r["slice"]): r["entered"] for r in report["volume"]["total"]}
    values = sorted({r["slice"] for r in report["volume"]["total"]}, key=lambda s: (s is None, str(s)))
    rows = [
        {
            "name": name_of(report["by"], value),
            "entered": entered.get((stages[0], value), 0),
            "cells": [_cell(cohort.get((a, b, value))) for a, b in steps],
        }
        for value in values
    ]
    _mark_weakest(rows, len(steps))
    total = {
        "name": "All " + ("channels" if report["by"] == "channel" else f"{report['by']}s"),
        "entered": sum(r["entered"] for r in rows),
        "cells": [_sum([r["cells"][i] for r in rows]) for i in range(len(steps))],
    }
    days = {(v["stage"], v["slice"]): v["median_days"] for v in report["velocity"]}
    timed = [stage for stage in stages if any(v["stage"] == stage for v in report["velocity"])]
    step_labels = [{"from": a, "to": b, "label": f"{labels.get(a, a)} → {labels.get(b, b)}"} for a, b in steps]
    return {
        "by": report["by"],
        "steps": step_labels,
        "rows": rows,
        "total": total,
        "velocity": {
            "stages": [{"key": stage, "label": labels.get(stage, stage)} for stage in timed],
            "rows": [
                {"name": row["name"], "days": [days.get((stage, value)) for stage in timed]}
                for row, value in zip(rows, values, strict=True)
            ],
        },
        "chart": heat_map(rows, [s["label"] for s in step_labels], report["by"]),
    }


def _cell(row: dict | None) -> dict:
    if row is None:
        return {"entered": 0, "converted": 0, "rate": None, "window_open": False, "weak": False}
    return {k: row[k] for k in ("entered", "converted", "rate", "window_open")} | {"weak": False}


def _sum(cells: list[dict]) -> dict:
    came, went = sum(c["entered"] for c in cells), sum(c["converted"] for c in cells)
    return {"entered": came, "converted": went, "rate": went / came if came else None,
            "window_open": any(c["window_open"] for c in cells), "weak": False}  # fmt: skip


def _mark_weakest(rows: list[dict], steps: int) -> None:
    """In each step, the channel that converts worst (of those with enough leads to say so)."""
    for i in range(steps):
        judged = [r["cells"][i] for r in rows if r["cells"][i]["rate"] is not None and r["cells"][i]["entered"] >= FEW]
        if len(judged) > 1:
            min(judged, key=lambda c: c["rate"])["weak"] = True


def heat_map(rows: list[dict], steps: list[str], by: str):
    """Conversion per step (columns) and channel (rows); darker converts more. None when nothing entered."""
    if not rows or not any(c["rate"] is not None for r in rows for c in r["cells"]):
        return None
    import plotly.graph_objects as go

    rates = [[c["rate"] for c in r["cells"]] for r in rows]
    text = [["no data" if c["rate"] is None else f"{c['rate']:.0%}" for c in r["cells"]] for r in rows]
    fig = figure(max(260, 30 * len(rows) + 110))
    fig.add_trace(
        go.Heatmap(
            z=rates,
            x=[plain(s).replace(" → ", " →<br>") for s in steps],  # two lines: a phone has room for five steps
            y=[plain(r["name"]) for r in rows],
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, "#f7fafc"], [1, MARKETING]],
            zmin=0,
            zmax=1,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": "converted"}, "tickformat": ".0%"},
            hovertemplate="%{y}<br>%{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text=by.capitalize())
    fig.update_xaxes(side="top", title_text="Step between stages (cohort conversion)")
    return html(fig)
