"""The funnel report both teams read: volume, conversion, skips, velocity and leakage.

`funnel_report(engine, config, ...)` is what the CLI, the API and the web pages call. The
rules behind every number are in `truce.analytics.funnel`; this module runs those
expressions on the chosen engine and shapes the small results. The result is plain JSON
data (str, int, float, None, lists, dicts):

    {
      "level": "contact" | "account",     # whose ledger is counted
      "by": None | "channel" | "segment" | "team" | "month",
      "from": "2026-01-01" | None, "to": "2026-06-30" | None,   # inclusive dates, UTC
      "window_days": 90,                   # the cohort conversion window
      "as_of": "2026-11-19T16:59:02+00:00" | None,  # the last move in the ledger
      "stages": [...], "exits": [...],     # from truce.toml, in order
      "months": ["2026-01", ...],          # every month of the period, "YYYY-MM"
      "volume": {
        "monthly":  [{"month", "stage", "slice", "entered"}],
        "total":    [{"stage", "slice", "entered"}],
        "snapshot": [{"stage", "slice", "count"}],
      },
      "conversion": {
        "cohort": {
          "monthly": [{"from_stage", "to_stage", "month", "slice", "entered", "converted", "rate", "window_open"}],
          "total":   [{"from_stage", "to_stage", "slice", "entered", "converted", "rate", "window_open"}],
        },
        "period": {
          "monthly": [{"from_stage", "to_stage", "month", "slice", "entered_from", "entered_to", "rate"}],
          "total":   [{"from_stage", "to_stage", "slice", "entered_from", "entered_to", "rate"}],
        },
      },
      "skips": {
        "moves":  [{"from_stage", "to_stage", "skipped": [...], "slice", "moves"}],
        "stages": [{"stage", "slice", "moves"}],
      },
      "velocity": [{"stage", "slice", "closed", "open", "median_days", "p75_days"}],
      "leakage": {
        "moves":  [{"from_stage", "to_stage", "reason", "slice", "moves"}],
        "stages": [{"from_stage", "slice", "moves", "without_reason"}],
      },
    }

`slice` is None when `by` is None; otherwise the channel, segment, team or month ("YYYY-MM")
the row counts, None for a missing value. Lists hold only rows with a count above zero and
are sorted by funnel order, then month, then slice. A rate is None when nothing entered
(`rate` = converted / entered, or entered_to / entered_from); medians are None when every
spell of the stage is still open. Totals add up the monthly rows: an entity that enters a
stage in two months counts in both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where it is used: it brings in Ibis
    from truce.analytics.funnel import Period, Waterfall

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine

from truce.config import Funnel, TruceConfig

LEVELS = ("contact", "account")
SLICES = ("channel", "segment", "team", "month")
ENGINES = ("duckdb", "store", "spark")
DAY_SECONDS = 86_400


class ReportError(ValueError):
    """An option the report cannot use; the message names it and what would work."""


def funnel_report(
    engine: Engine,
    config: TruceConfig,
    *,
    by: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    level: str = "contact",
    backend: str = "duckdb",
    window_days: int = 90,
) -> dict:
    """The funnel report for the store behind `engine` (shape in the module docstring).

    start and end are inclusive UTC dates; backend "duckdb" runs the metrics in process
    on DuckDB, "store" runs them in the store's own SQLite or PostgreSQL, "spark" on Spark
    (which reads the analytical copy's Parquet files itself; truce.analytics.sources).
    """
    _check(by=by, start=start, end=end, level=level, window_days=window_days)
    if backend not in ENGINES:
        raise ReportError(f"unknown engine {backend!r}; choose one of {', '.join(ENGINES)}")
    from truce.analytics import sources

    with sources.from_store(engine, backend) as tables:
        return report(tables, config.funnel, by=by, start=start, end=end, level=level, window_days=window_days)


def report(
    tables,
    funnel: Funnel,
    *,
    by: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    level: str = "contact",
    window_days: int = 90,
    native_percentiles: bool | None = None,
) -> dict:
    """The report from `truce.analytics.sources.Sources` already open (benchmarks pass Parquet).

    native_percentiles: None uses the engine's own percentile function where it has one;
    False computes them from window ranks everywhere (the tests compare both).
    """
    from truce.analytics import funnel as metrics

    _check(by=by, start=start, end=end, level=level, window_days=window_days)
    waterfall = metrics.Waterfall.from_funnel(funnel)
    ask = _Ask(
        waterfall,
        level,
        by,
        metrics.Period(_seconds(start), _seconds(end + dt.timedelta(days=1)) if end else None),
        window_days,
        tables.con.name,
        # SQLite has no percentile function of its own; window ranks compute the same numbers.
        tables.con.name != "sqlite" if native_percentiles is None else native_percentiles,
    )
    with _materialised(metrics, tables, ask) as (contact_moves, moves, firsts):
        last = _rows(contact_moves.aggregate(last=metrics.as_of(contact_moves)))[0]["last"]
        found = _run(metrics, ask, contact_moves, moves, firsts, last)
    order = _Order(waterfall, by)
    return {
        "level": level,
        "by": by,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "window_days": window_days,
        "as_of": dt.datetime.fromtimestamp(last, dt.UTC).isoformat() if last is not None else None,
        "stages": list(waterfall.stages),
        "exits": list(waterfall.exits),
        "months": _months(found["entered"], start, end),
        "volume": _volume(found["entered"], found["snapshot"], order),
        "conversion": {
            "cohort": _cohort(found["cohorts"], found["converted"], waterfall, order),
            "period": _period(found["entered"], found["entered_out"], waterfall, order),
        },
        "skips": _skips(found["skips"], waterfall, order),
        "velocity": _velocity(found["spells"], found["lengths"], order),
        "leakage": _leakage(found["leaks"], order),
    }


@dataclass(frozen=True)
class _Ask:
    waterfall: Waterfall
    level: str
    by: str | None
    period: Period
    window_days: int
    engine: str
    native_percentiles: bool


@contextmanager
def _materialised(metrics, tables, ask: _Ask) -> Iterator[tuple]:
    """The contact moves, the level's moves and their first entries, each computed once."""
    from truce.analytics.spark import kept, let_go  # imports no pyspark

    cached = []

    def keep(expr):
        cached.append(kept(expr))
        return cached[-1]

    team = ask.by == "team"
    try:
        carry = metrics.carried(ask.level, ask.by)
        base = metrics.contact_ledger(tables.ledger, tables.contacts, tables.accounts, ask.waterfall, carry)
        moves = contact_moves = keep(metrics.follow(base, held_by=team))
        if ask.level == "account":
            moves = keep(metrics.follow(metrics.account_ledger(contact_moves), held_by=team))
        yield contact_moves, moves, keep(metrics.first_entries(moves, ask.by))
    finally:
        # Drop them now: their finalisers would otherwise run after the connection closed.
        for table in reversed(cached):
            let_go(table)


def _run(metrics, ask: _Ask, contact_moves, moves, firsts, last: int | None) -> dict[str, list]:
    """Every metric's rows, stages named."""
    by, period, waterfall = ask.by, ask.period, ask.waterfall

    def rows(expr) -> list[dict]:
        found = _rows(expr)
        for row in found:
            for column in ("stage", "from_stage", "to_stage"):
                if column in row:
                    row[column] = waterfall.keys[row[column]]
        return found

    found = {"entered": rows(metrics.entries(firsts, by, period))}
    found["entered_out"] = rows(metrics.entries(firsts, by, period, out=True)) if by == "team" else found["entered"]
    if ask.level == "contact":
        found["snapshot"] = rows(metrics.snapshot(moves, by, period.end))
    else:
        found["snapshot"] = rows(metrics.account_snapshot(contact_moves, moves, waterfall, by, period.end))
    found["cohorts"], found["converted"] = [], []
    if last is not None:
        found["cohorts"] = rows(metrics.cohorts(firsts, waterfall, by, period, ask.window_days, last))
        # SQLite runs a semi-join as EXISTS row by row, without an index on a materialised table.
        semi_join = ask.engine != "sqlite"
        found["converted"] = rows(metrics.conversions(firsts, moves, waterfall, by, period, ask.window_days, semi_join))
    found["skips"] = rows(metrics.skips(moves, waterfall, by, period))
    found["leaks"] = rows(metrics.leakage(moves, waterfall, by, period))
    found["spells"] = rows(metrics.spells(moves, by, period))
    found["lengths"] = rows(metrics.velocity(moves, by, period, native=ask.native_percentiles))
    return found


def _check(*, by, start, end, level, window_days) -> None:
    if by is not None and by not in SLICES:
        raise ReportError(f"cannot slice by {by!r}; choose one of {', '.join(SLICES)}")
    if level not in LEVELS:
        raise ReportError(f"unknown level {level!r}; choose contact or account")
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ReportError(f"window_days must be a whole number of days, at least 1, not {window_days!r}")
    for name, day in (("start", start), ("end", end)):
        if day is not None and (not isinstance(day, dt.date) or isinstance(day, dt.datetime)):
            raise ReportError(f"{name} must be a date, not {day!r}")
    if start and end and start > end:
        raise ReportError(f"the period starts on {start} after it ends on {end}")


def _seconds(day: dt.date | None) -> int | None:
    if day is None:
        return None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def _rows(expr) -> list[dict]:
    from truce.analytics.spark import to_arrow

    return to_arrow(expr).to_pylist()


def _month(number: int) -> str:
    return f"{number // 100:04d}-{number % 100:02d}"


def _months(entered: list[dict], start: dt.date | None, end: dt.date | None) -> list[str]:
    seen = [row["month"] for row in entered]
    first = start.year * 100 + start.month if start else min(seen, default=None)
    last = end.year * 100 + end.month if end else max(seen, default=None)
    if first is None or last is None:
        return []
    months, month = [], first
    while month <= last:
        months.append(_month(month))
        month = month + 1 if month % 100 < 12 else (month // 100 + 1) * 100 + 1
    return months


class _Order:
    """Funnel order for stages, then month, then slice (missing values last)."""

    def __init__(self, waterfall, by: str | None) -> None:
        known = [*waterfall.stages, *waterfall.exits]
        self.position = {stage: i for i, stage in enumerate(known)}
        self.by = by

    def stage(self, stage: str | None) -> tuple:
        return (stage is None, self.position.get(stage, len(self.position)), stage or "")

    def slice(self, row: dict):
        value = row.get("slice")
        if self.by == "month" and value is not None:
            value = _month(value)
        return value

    @staticmethod
    def slice_key(value) -> tuple:
        return (value is None, "" if value is None else str(value))


def _volume(entered: list[dict], snapshot: list[dict], order: _Order) -> dict:
    monthly = [
        {"month": _month(r["month"]), "stage": r["stage"], "slice": order.slice(r), "entered": r["entered"]}
        for r in entered
    ]
    monthly.sort(key=lambda r: (r["month"], order.stage(r["stage"]), order.slice_key(r["slice"])))
    totals: dict = defaultdict(int)
    for r in monthly:
        totals[r["stage"], r["slice"]] += r["entered"]
    total = [{"stage": stage, "slice": part, "entered": n} for (stage, part), n in totals.items()]
    total.sort(key=lambda r: (order.stage(r["stage"]), order.slice_key(r["slice"])))
    snap = [{"stage": r["stage"], "slice": order.slice(r), "count": r["count"]} for r in snapshot]
    snap.sort(key=lambda r: (order.stage(r["stage"]), order.slice_key(r["slice"])))
    return {"monthly": monthly, "total": total, "snapshot": snap}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _cohort(rows: list[dict], converted: list[dict], waterfall, order: _Order) -> dict:
    target = dict(waterfall.pairs)
    won = {(r["stage"], r["month"], order.slice(r)): r["converted"] for r in converted}
    monthly: list[dict] = []
    totals: defaultdict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        part = order.slice(r)
        n_won = won.get((r["stage"], r["month"], part), 0)
        monthly.append(
            {
                "from_stage": r["stage"],
                "to_stage": target[r["stage"]],
                "month": _month(r["month"]),
                "slice": part,
                "entered": r["entered"],
                "converted": n_won,
                "rate": _rate(n_won, r["entered"]),
                "window_open": r["window_open"],
            }
        )
        sums = totals[r["stage"], part]
        sums[0], sums[1], sums[2] = sums[0] + r["entered"], sums[1] + n_won, sums[2] + r["window_open"]
    monthly.sort(key=lambda r: (order.stage(r["from_stage"]), r["month"], order.slice_key(r["slice"])))
    total = [
        {
            "from_stage": stage,
            "to_stage": target[stage],
            "slice": part,
            "entered": n,
            "converted": n_won,
            "rate": _rate(n_won, n),
            "window_open": still,
        }
        for (stage, part), (n, n_won, still) in totals.items()
    ]
    total.sort(key=lambda r: (order.stage(r["from_stage"]), order.slice_key(r["slice"])))
    return {"monthly": monthly, "total": total}


def _period(entered: list[dict], entered_out: list[dict], waterfall, order: _Order) -> dict:
    # (stage, month, slice) -> entities entering, sliced as the denominator
    into: defaultdict[tuple[str, int, str | None], int] = defaultdict(int)
    for r in entered:
        into[r["stage"], r["month"], order.slice(r)] += r["entered"]
    # the same for the numerator (team: who held the stage left)
    onward: defaultdict[tuple[str, int, str | None], int] = defaultdict(int)
    for r in entered_out:
        onward[r["stage"], r["month"], order.slice(r)] += r["entered"]
    monthly: list[dict] = []
    totals: defaultdict[tuple[str, str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for a, b in waterfall.pairs:
        keys = {(month, part) for stage, month, part in into if stage == a}
        keys |= {(month, part) for stage, month, part in onward if stage == b}
        for month, part in keys:
            n_from, n_to = into.get((a, month, part), 0), onward.get((b, month, part), 0)
            monthly.append(
                {
                    "from_stage": a,
                    "to_stage": b,
                    "month": _month(month),
                    "slice": part,
                    "entered_from": n_from,
                    "entered_to": n_to,
                    "rate": _rate(n_to, n_from),
                }
            )
            sums = totals[a, b, part]
            sums[0], sums[1] = sums[0] + n_from, sums[1] + n_to
    monthly.sort(key=lambda r: (order.stage(r["from_stage"]), r["month"], order.slice_key(r["slice"])))
    total: list[dict] = [
        {"from_stage": a, "to_stage": b, "slice": part, "entered_from": n, "entered_to": m, "rate": _rate(m, n)}
        for (a, b, part), (n, m) in totals.items()
    ]
    total.sort(key=lambda r: (order.stage(r["from_stage"]), order.slice_key(r["slice"])))
    return {"monthly": monthly, "total": total}


def _skips(rows: list[dict], waterfall, order: _Order) -> dict:
    skipped = {(a, b): list(between) for a, b, between in waterfall.skips}
    moves: list[dict] = []
    per_stage: defaultdict[tuple[str, str | None], int] = defaultdict(int)
    for r in rows:
        part = order.slice(r)
        jumped = skipped[r["from_stage"], r["to_stage"]]
        moves.append(
            {
                "from_stage": r["from_stage"],
                "to_stage": r["to_stage"],
                "skipped": jumped,
                "slice": part,
                "moves": r["moves"],
            }
        )
        for stage in jumped:
            per_stage[stage, part] += r["moves"]
    moves.sort(key=lambda r: (order.stage(r["from_stage"]), order.stage(r["to_stage"]), order.slice_key(r["slice"])))
    stages: list[dict] = [{"stage": stage, "slice": part, "moves": n} for (stage, part), n in per_stage.items()]
    stages.sort(key=lambda r: (order.stage(r["stage"]), order.slice_key(r["slice"])))
    return {"moves": moves, "stages": stages}


def _velocity(spells: list[dict], lengths: list[dict], order: _Order) -> list[dict]:
    found = {(r["stage"], order.slice(r)): r for r in lengths}
    rows = []
    for r in spells:
        part = order.slice(r)
        length = found.get((r["stage"], part), {})
        rows.append(
            {
                "stage": r["stage"],
                "slice": part,
                "closed": r["closed"],
                "open": r["open"],
                "median_days": _days(length.get("median")),
                "p75_days": _days(length.get("p75")),
            }
        )
    rows.sort(key=lambda r: (order.stage(r["stage"]), order.slice_key(r["slice"])))
    return rows


def _days(seconds) -> float | None:
    return None if seconds is None else float(seconds) / DAY_SECONDS


def _leakage(rows: list[dict], order: _Order) -> dict:
    moves: list[dict] = []
    per_stage: defaultdict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        part = order.slice(r)
        moves.append(
            {
                "from_stage": r["from_stage"],
                "to_stage": r["to_stage"],
                "reason": r["reason"],
                "slice": part,
                "moves": r["moves"],
            }
        )
        sums = per_stage[r["from_stage"], part]
        sums[0] += r["moves"]
        sums[1] += r["moves"] if r["reason"] is None else 0
    moves.sort(
        key=lambda r: (
            order.stage(r["from_stage"]),
            order.stage(r["to_stage"]),
            order.slice_key(r["slice"]),
            (r["reason"] is None, r["reason"] or ""),
        )
    )
    stages: list[dict] = [
        {"from_stage": stage, "slice": part, "moves": n, "without_reason": bare}
        for (stage, part), (n, bare) in per_stage.items()
    ]
    stages.sort(key=lambda r: (order.stage(r["from_stage"]), order.slice_key(r["slice"])))
    return {"moves": moves, "stages": stages}
