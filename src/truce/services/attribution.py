"""Attribution reports on the store: who gets credit for conversions and revenue.

`attribution_report(...)` is what the CLI, the API and the web pages call;
`monthly_credit(...)` feeds the budget curves; `journey_credit(...)` splits each deal for the
credit ledger. The journey rules are in truce.analytics.journeys, the model rules in
truce.analytics.attribution and truce.domain.attribution; docs/attribution.md explains both.

The report (plain JSON data):

    {"model", "conversion", "level", "by", "lookback_days", "engine",
     "from", "to",                         # conversion dates counted (inclusive, UTC) or None
     "journeys": n,                        # journeys with touches, converting or not
     "total_conversions": x, "total_revenue": y,   # of converting journeys with touches
     "unattributed": {"conversions": n, "revenue": y},  # conversions without a touch in the window
     "credits": [{"key", "label", "conversions", "revenue", "share"}, ...],  # share of conversions
     "notes": [...]}

Credits add up to total_conversions and total_revenue. key is the channel, the campaign id,
the team (marketing, sales) or the person's email; "(none)" collects touches without one.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Engine

from truce.config import TruceConfig
from truce.services.attribution_runner import ModelError, Settings, fetch, run_model

ENGINES = ("duckdb", "spark")


class ReportError(ValueError):
    """An option the report cannot use; the message names it and what would work."""


def attribution_report(
    engine: Engine,
    config: TruceConfig,
    *,
    model: str | None = None,
    by: str = "channel",
    conversion: str | None = None,
    level: str | None = None,
    lookback_days: int | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    backend: str = "duckdb",
) -> dict:
    ask = _ask(config, model, by, conversion, level, lookback_days, start, end, backend)
    with _journeys(engine, ask) as (touches, labels, unattributed):
        try:
            credit = run_model(touches, labels, ask["model"], Settings.from_config(config.attribution))
        except ModelError as exc:
            raise ReportError(str(exc)) from None
    names = ask.pop("names")
    rows = credit.rows()
    for row in rows:
        row["label"] = names.get(row["key"], row["key"])
    return {
        **ask,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "journeys": credit.journeys,
        "total_conversions": credit.total_conversions,
        "total_revenue": credit.total_revenue,
        "unattributed": unattributed,
        "credits": rows,
        "notes": credit.notes,
    }


def monthly_credit(
    engine: Engine,
    config: TruceConfig,
    *,
    model: str | None = None,
    by: str = "channel",
    conversion: str | None = None,
    level: str | None = None,
    backend: str = "duckdb",
) -> list[dict]:
    """[{"month": "YYYY-MM", "key", "conversions", "revenue"}]: each month's journeys credited on their own.

    A journey's month is the UTC month of its conversion (of its last touch if it did not
    convert); the model runs once per month, so data-driven models learn from that month.
    """
    ask = _ask(config, model, by, conversion, level, None, None, None, backend)
    found = []
    with _journeys(engine, ask) as (touches, labels, _):
        months = sorted(r["period"] for r in fetch(touches.select("period").distinct()).to_pylist())
        settings = Settings.from_config(config.attribution)
        for month in months:
            try:
                credit = run_model(touches.filter(touches.period == month), labels, ask["model"], settings)
            except ModelError as exc:
                raise ReportError(str(exc)) from None
            for row in credit.rows():
                found.append(
                    {
                        "month": f"{month // 100:04d}-{month % 100:02d}",
                        "key": row["key"],
                        "conversions": row["conversions"],
                        "revenue": row["revenue"],
                    }
                )
    return found


def journey_credit(
    engine: Engine,
    config: TruceConfig,
    *,
    model: str | None = None,
    by: str = "user",
    conversion: str | None = None,
    level: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    backend: str = "duckdb",
) -> list[dict]:
    """Each converting journey split among its keys: [{"deal_id", "key", "share", "revenue"}].

    The basis of the credit ledger. Rule-based models split each journey by their own
    weights. Markov and Shapley credit channels over all journeys, not deals; a deal is then
    split among the keys it touched in proportion to those keys' overall revenue credit
    (equally when none of them earned a positive credit). Either way a deal's shares add up
    to 1 and its revenue is shared out exactly. deal_id is the opportunity for won and
    opportunity conversions, None for sql/mql.
    """
    from truce.analytics import attribution as q
    from truce.domain.attribution import RULE_MODELS

    ask = _ask(config, model, by, conversion, level, None, start, end, backend)
    settings = Settings.from_config(config.attribution)
    with _journeys(engine, ask) as (touches, labels, _):
        if ask["model"] in RULE_MODELS:
            rows = fetch(q.heuristic_weights(touches, ask["model"], settings.half_life_days)).to_pylist()
            revenue = {r["journey"]: r["revenue"] for r in fetch(q.journey_keys(touches)).to_pylist()}
        else:
            try:
                overall = run_model(touches, labels, ask["model"], settings)
            except ModelError as exc:
                raise ReportError(str(exc)) from None
            rows, revenue = _split_by_overall(fetch(q.journey_keys(touches)).to_pylist(), overall.revenue)
    deals = ask["conversion"] in ("won", "opportunity")
    return [
        {
            "deal_id": r["journey"] - 1 if deals else None,
            "key": labels[r["key"]],
            "share": r["weight"],
            "revenue": r["weight"] * revenue[r["journey"]],
        }
        for r in rows
    ]


def _split_by_overall(keys: list[dict], credit) -> tuple[list[dict], dict]:
    journeys: dict[int, list[int]] = {}
    revenue = {}
    for r in keys:
        journeys.setdefault(r["journey"], []).append(r["key"])
        revenue[r["journey"]] = r["revenue"]
    rows = []
    for journey, touched in journeys.items():
        worth = [max(float(credit[k]), 0.0) for k in touched]
        whole = sum(worth)
        for k, w in zip(touched, worth, strict=True):
            rows.append({"journey": journey, "key": k, "weight": w / whole if whole > 0 else 1 / len(touched)})
    return rows, revenue


def _ask(config, model, by, conversion, level, lookback_days, start, end, backend) -> dict:
    from truce.analytics.journeys import BY, CONVERSIONS, LEVELS
    from truce.domain.attribution import MODELS

    settings = config.attribution
    ask = {
        "model": model or settings.model,
        "conversion": conversion or settings.conversion,
        "level": level or settings.level,
        "by": by,
        "lookback_days": settings.lookback_days if lookback_days is None else lookback_days,
        "engine": backend,
    }
    for name, value, known in (
        ("model", ask["model"], MODELS),
        ("conversion", ask["conversion"], CONVERSIONS),
        ("level", ask["level"], LEVELS),
        ("by", by, BY),
        ("engine", backend, ENGINES),
    ):
        if value not in known:
            raise ReportError(f"unknown {name} {value!r}; choose one of {', '.join(known)}")
    if isinstance(ask["lookback_days"], bool) or not isinstance(ask["lookback_days"], int) or ask["lookback_days"] < 1:
        raise ReportError(f"lookback_days must be a whole number of days, at least 1, not {ask['lookback_days']!r}")
    if start and end and start > end:
        raise ReportError(f"the period starts on {start} after it ends on {end}")
    ask["start"], ask["end"] = start, end
    ask["names"] = {}
    return ask


def _duckdb_codes(con, by: str, values: list):
    """The key codes as a table on DuckDB: value → its position in `values`.

    Made in SQL, not from an Arrow table: pyarrow imports pandas to build an array from Python
    values, 0.8 s of every attribution report's start."""
    name = f"truce_keys_{by}"  # `by` is one of BY, checked before
    con.con.execute(  # TEMP: the analytical copy is opened read-only
        f"CREATE OR REPLACE TEMP TABLE {name} AS "
        "SELECT unnest(?::VARCHAR[]) AS value, unnest(range(?::BIGINT)) AS key",
        [values, len(values)],
    )
    return con.table(name)


@contextmanager
def one_reading():
    """Attribution runs inside this block share one reading of the store.

    A command that runs attribution several times (credit by person, team and campaign; ROI for
    pipeline, revenue and who sourced it; the brief) then opens the engine's tables once and
    computes each conversion's journeys once: credit by channel, campaign, team or person, and
    any period, are read off the same journeys. Nested blocks share the outermost one. Use it
    only around reads: what it keeps is a snapshot, freed when the block ends.
    """
    with _reading(shared=True):
        yield


@contextmanager
def _reading(shared: bool):
    """The reading in force, or a new one for the block (`shared`: several runs may follow)."""
    if _READING.get() is not None:
        yield _READING.get()
        return
    reading = _Reading(shared)
    token = _READING.set(reading)
    try:
        yield reading
    finally:
        _READING.reset(token)
        reading.close()


class _Reading:
    """Opened sources, journeys and key codes, kept for the length of a `one_reading` block."""

    def __init__(self, shared: bool) -> None:
        # A shared reading builds journeys with every key, for whichever run comes next; a
        # report's own reading serves that one report, and carries its key only.
        self.shared = shared
        self.opened: dict = {}  # (engine, backend, stages) → AttributionSources
        self.kept: dict = {}  # (source key, conversion, level, lookback, keys) → (journeys, conversions)
        self.codes: dict = {}  # (source key, by) → (key values, their codes on the engine)

    def sources(self, engine: Engine, backend: str, stages: tuple[str, ...]):
        from truce.analytics.attribution_sources import attribution_sources

        key = (engine, backend, stages)
        if key not in self.opened:
            self.opened[key] = attribution_sources(engine, backend, stages)
        return key, self.opened[key]

    def journeys(self, source: tuple, src, ask: dict):
        """(every touch with its journey, whatever the key and period; the conversions), computed once."""
        from truce.analytics import journeys
        from truce.analytics.spark import kept

        keys = journeys.BY if self.shared else (ask["by"],)
        key = (source, ask["conversion"], ask["level"], ask["lookback_days"], keys)
        if key not in self.kept:
            found = journeys.conversions(src.opportunities, src.stage_entries, ask["conversion"], ask["level"])
            rows = journeys.journey_rows(
                src.touches, src.contacts, found, level=ask["level"], lookback_days=ask["lookback_days"], keys=keys
            )
            self.kept[key] = (kept(rows), found)
        return self.kept[key]

    def key_codes(self, source: tuple, src, by: str):
        """(the key values touches carry, in order; a table of value → its position)."""
        from truce.analytics import journeys

        if (source, by) not in self.codes:
            values = [r["value"] for r in fetch(journeys.key_values(src.touches, by)).to_pylist()]
            codes = (
                _duckdb_codes(src.con, by, values) if src.con.name == "duckdb" else _spark_codes(src.con, by, values)
            )
            self.codes[source, by] = (values, codes)
        return self.codes[source, by]

    def close(self) -> None:
        from truce.analytics.spark import let_go

        try:
            for rows, _ in self.kept.values():
                let_go(rows)
        finally:
            for src in self.opened.values():
                src.close()


_READING: ContextVar[_Reading | None] = ContextVar("truce_attribution_reading", default=None)


@contextmanager
def _journeys(engine: Engine, ask: dict):
    """(touches on the engine, labels by key code, unattributed conversions) for the ask."""
    import ibis

    from truce.analytics import journeys
    from truce.analytics.spark import kept, let_go

    stages = (ask["conversion"],) if ask["conversion"] in ("sql", "mql") else ()
    start, end = ask.pop("start"), ask.pop("end")
    with _reading(shared=False) as reading:
        source, src = reading.sources(engine, ask["engine"], stages)
        rows, found = reading.journeys(source, src, ask)
        values, codes = reading.key_codes(source, src, ask["by"])
        # Touches go to their conversion among all of them; the period then picks journeys by
        # when they converted (or, not converting, by their last touch).
        touches = kept(_in_period(journeys.keyed(rows, codes, ask["by"]), start, end, scale=1_000_000))
        found = _in_period(found, start, end)
        try:
            credited = touches.filter(touches.converted).select("journey").distinct()
            every = fetch(found.aggregate(conversions=found.count(), revenue=found.revenue.sum())).to_pylist()[0]
            seen = fetch(credited.count()).as_py()
            revenue_seen = fetch(
                touches.filter(touches.converted)
                .group_by("journey")
                .aggregate(revenue=ibis._.revenue.max())
                .revenue.sum()
            ).as_py()
            unattributed = {
                "conversions": int(every["conversions"] or 0) - int(seen or 0),
                "revenue": float(every["revenue"] or 0.0) - float(revenue_seen or 0.0),
            }
            ask["names"] = src.labels.get(ask["by"], {})
            yield touches, values, unattributed
        finally:
            let_go(touches)


def _spark_codes(con, by: str, values: list[str]):
    import pyarrow as pa

    from truce.analytics.spark import hand_over

    return hand_over(
        con,
        f"truce_keys_{by}",  # one view per key: a shared reading holds several at once
        pa.table({"value": pa.array(values, pa.string()), "key": pa.array(range(len(values)), pa.int64())}),
    )


def _in_period(found, start: dt.date | None, end: dt.date | None, scale: int = 1):
    """Rows whose conv_ts (seconds × scale) falls on the UTC days from start to end."""
    if start:
        found = found.filter(
            found.conv_ts >= int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp()) * scale
        )
    if end:
        after = end + dt.timedelta(days=1)
        found = found.filter(
            found.conv_ts < int(dt.datetime(after.year, after.month, after.day, tzinfo=dt.UTC).timestamp()) * scale
        )
    return found
