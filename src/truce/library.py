"""truce for notebooks: `truce.open(url)` and one method per report, `truce.attribution(frame)`.

The methods call the same service functions as the CLI and the REST API, with the same
defaults, and return the same typed report models (truce.reports.models), so a figure read in
a notebook is the figure `truce … --json` prints. Each report also turns into tables for
analysis: `report.tables()` names the lists of rows it holds (dotted paths such as
"conversion.cohort.total"), and `to_arrow()`, `to_pandas()` and `to_polars()` give one of them
(the report's main table when none is named). docs/library.md shows every name with an example.

This module is loaded only when a notebook asks for `truce.open` or `truce.attribution`
(truce/__init__.py), so `import truce` and `truce --help` stay instant.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any, ClassVar, cast, get_args, get_origin

from pydantic import BaseModel, PrivateAttr

from truce.reports import models, plain, typed

Day = dt.date | str | None
When = dt.datetime | dt.date | str | None


# ---- reports as tables -------------------------------------------------------------------------


class Tables:
    """What every report of the library adds to its model: its lists of rows as data frames."""

    main_table: ClassVar[str]

    def to_dict(self) -> Any:
        """The report as the CLI's --json prints it (JSON types; NaN is None, money exact text)."""
        return plain(self)

    def tables(self) -> list[str]:
        """The names of the tables in this report: the dotted paths of its lists of rows."""
        found = dict(_paths_of_rows(_data(self)))
        return list(dict.fromkeys([self.main_table, *found]))

    def records(self, table: str | None = None) -> list[dict]:
        """The rows of one table (the main one by default) as Python dicts."""
        name = table or self.main_table
        value: Any = _data(self)
        for part in name.split("."):
            if not isinstance(value, dict) or part not in value:
                raise KeyError(f"{type(self).__name__} has no table {name!r}; it has: {', '.join(self.tables())}")
            value = value[part]
        if not isinstance(value, list):
            raise KeyError(f"{name!r} in {type(self).__name__} is not a table; tables: {', '.join(self.tables())}")
        return [row if isinstance(row, dict) else {"value": row} for row in value]

    def to_arrow(self, table: str | None = None):
        """One table as a pyarrow.Table: a column per key, in the order the report gives them."""
        name = table or self.main_table
        return _arrow(self.records(name), _declared_columns(type(self), name))

    def to_pandas(self, table: str | None = None):
        """One table as a pandas.DataFrame (needs pandas)."""
        _require("pandas", "to_pandas()")
        return self.to_arrow(table).to_pandas()

    def to_polars(self, table: str | None = None):
        """One table as a polars.DataFrame (needs polars)."""
        polars = _require("polars", "to_polars()")
        return polars.from_arrow(self.to_arrow(table))


def _data(report: Tables) -> dict:
    # Python values (Decimal money, datetimes), keyed as the JSON is. Every Tables is a report model.
    return cast(BaseModel, report).model_dump(mode="python", by_alias=True, exclude_unset=True)


def _paths_of_rows(value: Any, path: str = ""):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths_of_rows(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        yield path, value


def _declared_columns(report: type, name: str) -> list[str]:
    """The columns of an empty table, where the model types its rows (e.g. credits)."""
    field = report.model_fields.get(name) if "." not in name else None  # type: ignore[attr-defined]
    if field is None or get_origin(field.annotation) is not list:
        return []
    (row,) = get_args(field.annotation) or (None,)
    if isinstance(row, type) and issubclass(row, BaseModel):
        return [f.alias or key for key, f in row.model_fields.items()]
    return []


def _arrow(rows: list[dict], empty_columns: list[str]):
    import pyarrow as pa

    names = list(dict.fromkeys(key for row in rows for key in row)) or empty_columns
    return pa.table({name: _column([row.get(name) for row in rows]) for name in names})


def _column(values: list):
    import pyarrow as pa

    # NaN and infinities are "no number", as in the JSON: null, not a float that poisons sums.
    values = [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]
    for attempt in (values, plain(values)):
        try:
            return pa.array(attempt)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            continue
    # Cells of mixed kinds (a number here, a text there): each one as its JSON text.
    return pa.array([None if v is None else json.dumps(v) for v in plain(values)], pa.string())


def _require(module: str, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{what} needs {module}, which is not installed: pip install {module}") from None


# ---- the typed reports, with their tables -----------------------------------------------------------


class FunnelReport(Tables, models.FunnelReport):
    main_table: ClassVar[str] = "conversion.cohort.total"


class SlaReport(Tables, models.SlaReport):
    main_table: ClassVar[str] = "sales.by_person"


class CustodyReport(Tables, models.CustodyReport):
    main_table: ClassVar[str] = "leads"


class AttributionReport(Tables, models.AttributionReport):
    main_table: ClassVar[str] = "credits"


class RoiReport(Tables, models.RoiReport):
    main_table: ClassVar[str] = "rows"


class BudgetReport(Tables, models.BudgetReport):
    main_table: ClassVar[str] = "channels"


class PricingReport(Tables, models.PricingReport):
    main_table: ClassVar[str] = "by_rep"


class CreditReport(Tables, models.CreditReport):
    main_table: ClassVar[str] = "people"


class TargetsReport(Tables, models.TargetsReport):
    main_table: ClassVar[str] = "targets"


class MetricsReport(Tables, models.MetricsReport):
    main_table: ClassVar[str] = "sellers"


class SurveyReport(Tables, models.SurveyReport):
    main_table: ClassVar[str] = "trend"


class FeedbackThemes(Tables, models.FeedbackThemes):
    main_table: ClassVar[str] = "items"


class Brief(Tables, models.Brief):
    main_table: ClassVar[str] = "decisions"


# Reports whose CLI --json is a bare list (the queue, the directory), or that are not read from a
# store (journeys): their models live with the others in truce.reports; here they gain tables.


class HandoffQueue(Tables, models.HandoffQueue):
    """`truce handoff queue --json` is the list `leads` (each a QueuedLead); as_of is the moment its clocks read."""

    main_table: ClassVar[str] = "leads"


class Directory(Tables, models.Directory):
    """`truce directory --json` is the list `people`."""

    main_table: ClassVar[str] = "people"


class JourneyAttribution(Tables, models.JourneyAttribution):
    """Attribution of a table of journeys: what `truce attribution --from-file … --json` prints."""

    main_table: ClassVar[str] = "channels"
    _notes: list[str] = PrivateAttr(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """What the engine said about the data (e.g. no journey converted); not part of the JSON."""
        return self._notes


QueuedLead = models.QueuedLead
ChannelCredit = models.ChannelCredit


# ---- opening a store ---------------------------------------------------------------------------------


class Truce:
    """A truce store and its truce.toml, with one method per report. Made by `truce.open`.

    Dates are `datetime.date` or "YYYY-MM-DD"; moments are `datetime.datetime` or ISO 8601 text
    (a moment without an offset is UTC), and default to now, as in the CLI.
    """

    def __init__(self, engine, config) -> None:
        self.engine = engine
        self.config = config

    def __repr__(self) -> str:
        from truce.store import db

        return f"<truce {db.describe(str(self.engine.url))}>"

    def __enter__(self) -> Truce:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        """Let go of the database connections."""
        self.engine.dispose()

    # ---- the funnel and the handoff ----

    def funnel(
        self,
        *,
        by: str | None = None,
        start: Day = None,
        end: Day = None,
        level: str = "contact",
        window_days: int = 90,
        engine: str = "duckdb",
    ) -> FunnelReport:
        """`truce funnel`: volume, conversion (cohort and period), skips, velocity, leakage."""
        from truce.services.funnel import funnel_report

        data = funnel_report(
            self.engine,
            self.config,
            by=by,
            start=_day("start", start),
            end=_day("end", end),
            level=level,
            backend=engine,
            window_days=window_days,
        )
        return typed(FunnelReport, data)

    def handoff_queue(self, at: When = None) -> HandoffQueue:
        """`truce handoff queue`: leads waiting for sales, with business hours left on each clock."""
        from truce.services.handoff import queue

        now = _moment("at", at)
        return typed(HandoffQueue, {"as_of": now, "leads": queue(self.engine, self.config, now)})

    def sla(self, at: When = None) -> SlaReport:
        """`truce sla`: both sides' promises kept, per person and month, and the queue."""
        from truce.services.sla_report import report

        return typed(SlaReport, report(self.engine, self.config, _moment("at", at)))

    def custody(self, at: When = None) -> CustodyReport:
        """`truce custody`: cold leads, and which team held each one when it went cold."""
        from truce.services.custody import cold_leads

        return typed(CustodyReport, cold_leads(self.engine, self.config, _moment("at", at)))

    # ---- attribution and money ----

    def attribution(
        self,
        *,
        model: str | None = None,
        by: str = "channel",
        conversion: str | None = None,
        level: str | None = None,
        lookback_days: int | None = None,
        start: Day = None,
        end: Day = None,
        engine: str = "duckdb",
    ) -> AttributionReport:
        """`truce attribution`: credit for conversions and revenue, by channel, campaign, team or person."""
        from truce.services.attribution import attribution_report

        data = attribution_report(
            self.engine,
            self.config,
            model=model,
            by=by,
            conversion=conversion,
            level=level,
            lookback_days=lookback_days,
            start=_day("start", start),
            end=_day("end", end),
            backend=engine,
        )
        return typed(AttributionReport, data)

    def roi(self, *, model: str | None = None, by: str = "channel", start: Day = None, end: Day = None) -> RoiReport:
        """`truce roi`: spend against attributed pipeline and revenue: ROI, ROAS, CAC."""
        from truce.services.economics import roi_report

        data = roi_report(
            self.engine, self.config, model=model, by=by, start=_day("start", start), end=_day("end", end)
        )
        return typed(RoiReport, data)

    def budget(
        self,
        *,
        model: str | None = None,
        what_if: str | dict[str, float] | None = None,
        optimize: bool = False,
        total: float | None = None,
        bounds: str | None = None,
        min_percent: float = 50.0,
        max_percent: float = 150.0,
    ) -> BudgetReport:
        """`truce budget`: response curves per channel, with a what-if or an optimised budget.

        what_if is the CLI's text ("paid_search:-20%,webinar:+20%") or a dict of fractions
        ({"paid_search": -0.2}); bounds is the CLI's text.
        """
        from truce.services.economics import budget_report, parse_bounds, parse_what_if

        if (total is not None or bounds is not None) and not optimize:
            raise ValueError("total and bounds are what optimize allocates; add optimize=True")
        if not 0 <= min_percent <= max_percent:
            raise ValueError(f"min_percent {min_percent:g} and max_percent {max_percent:g}: need 0 ≤ min ≤ max")
        changes = parse_what_if(what_if) if isinstance(what_if, str) else what_if
        data = budget_report(
            self.engine,
            self.config,
            model=model,
            what_if=changes,
            optimize=optimize,
            optimize_total=total,
            bounds=parse_bounds(bounds) if bounds is not None else None,
            default_bounds=(min_percent / 100, max_percent / 100),
        )
        return typed(BudgetReport, data)

    def pricing(self, *, start: Day = None, end: Day = None) -> PricingReport:
        """`truce pricing`: list against realised price, discounts, and what went beyond policy."""
        from truce.services.pricing import pricing_report

        data = pricing_report(self.engine, self.config, start=_day("start", start), end=_day("end", end))
        return typed(PricingReport, data)

    def credit(
        self,
        *,
        model: str | None = None,
        start: Day = None,
        end: Day = None,
        by: str | None = None,
        pool: str | int | None = None,
        split: str = "credit",
        team_split: dict[str, int] | None = None,
        floor: str | int | None = None,
        cap: str | int | None = None,
    ) -> CreditReport:
        """`truce credit`: each won deal's revenue split among people and teams; a bonus-pool what-if."""
        from decimal import Decimal

        from truce.services.credit import bonus_pool, credit_ledger

        wanted = (by,) if by else ("user", "team")
        if pool is not None and "user" not in wanted:
            raise ValueError("a pool pays people: use it without by='team'")
        ledger = credit_ledger(
            self.engine, self.config, model=model, start=_day("start", start), end=_day("end", end), by=wanted
        )
        weights = {team: Decimal(str(share)) for team, share in team_split.items()} if team_split else None
        bonus = (
            bonus_pool(ledger, pool, split=split, team_split=weights, floor=floor, cap=cap)
            if pool is not None
            else None
        )
        return typed(CreditReport, {**ledger, "bonus": bonus})

    # ---- targets, metrics, people ----

    def targets(self, *, period: str | None = None, at: Day = None) -> TargetsReport:
        """`truce target`: attainment and forecast per target (running at `at`, or within `period`)."""
        from truce.services.targets import targets_report

        data = targets_report(self.engine, self.config, period=period, as_of=_day("at", at))
        return typed(TargetsReport, data)

    def metrics(self, *, start: Day = None, end: Day = None) -> MetricsReport:
        """`truce metrics`: integrated metrics for sellers, downstream and upstream marketers."""
        from truce.services.metrics import group_metrics

        data = group_metrics(self.engine, self.config, start=_day("start", start), end=_day("end", end))
        return typed(MetricsReport, data)

    def directory(self, *, team: str | None = None) -> Directory:
        """`truce directory`: who is who, and which accounts, campaigns and key accounts they own."""
        from truce.services.metrics import directory

        return typed(Directory, {"people": directory(self.engine, team=team)})

    # ---- the voice of both teams, and the meeting ----

    def survey(self, round: str | None = None) -> SurveyReport:
        """`truce survey report`: the alignment diagnostic for a round (default: the latest)."""
        from truce.services.survey import survey_report

        return typed(SurveyReport, survey_report(self.engine, self.config, round))

    def feedback_themes(self, *, start: Day = None, end: Day = None) -> FeedbackThemes:
        """`truce feedback themes`: what the sales floor said, by kind, competitor, product and term."""
        from truce.services.feedback import feedback_themes

        data = feedback_themes(self.engine, start=_day("start", start), end=_day("end", end))
        return typed(FeedbackThemes, data)

    def brief(self, *, period: str | None = None, at: Day = None) -> Brief:
        """`truce brief --json`: the data of the joint revenue-meeting brief."""
        from truce.services.brief import build_brief

        return typed(Brief, build_brief(self.engine, self.config, period=period, as_of=_day("at", at)))


def open(url: str | os.PathLike | None = None, config: Any = None) -> Truce:  # noqa: A001 - truce.open reads as it should
    """A truce store to read reports from.

    url: a database URL or a SQLite file; default $TRUCE_DATABASE_URL, else ./truce.db (as the CLI).
    config: a truce.toml path, or a loaded TruceConfig; default $TRUCE_CONFIG, else ./truce.toml,
    else the built-in funnel.
    """
    from sqlalchemy.engine import make_url

    from truce.store import db

    resolved = db.resolve_url(str(url) if url is not None else None)
    location = make_url(resolved)
    if location.get_backend_name() == "sqlite" and location.database not in (None, "", ":memory:"):
        # db.connect would create an empty file; a notebook that names the wrong file should hear so.
        if not Path(location.database).exists():
            raise FileNotFoundError(f"no truce database at {location.database} (make one with: truce demo)")
    engine = db.connect(resolved)
    try:
        db.require_current_schema(engine)
        return Truce(engine, _config(config))
    except BaseException:
        engine.dispose()
        raise


def _config(config: Any):
    from truce import config as truce_config

    if isinstance(config, truce_config.TruceConfig):
        return config
    return truce_config.load(config)


# ---- attribution of any table of journeys ----------------------------------------------------------


JOURNEY_COLUMNS = ("journey_id", "timestamp", "channel", "converted", "revenue")


def attribution(
    journeys: Any, model: str | None = None, *, config: Any = None, engine: str = "duckdb"
) -> JourneyAttribution:
    """Credit the channels of a table of journeys, as `truce attribution --from-file`.

    journeys: a pandas or polars DataFrame, a pyarrow Table, or a CSV/Parquet path, with the
    columns journey_id, timestamp, channel, converted, revenue (docs/library.md). model:
    default [attribution] model of truce.toml; its settings (half life, Markov order, Shapley
    sampling) come from the same file.
    """
    import tempfile

    from truce.services.attribution_file import file_report
    from truce.services.attribution_runner import Settings

    loaded = _config(config)
    chosen = model or loaded.attribution.model
    settings = Settings.from_config(loaded.attribution)
    if isinstance(journeys, str | os.PathLike):
        return _journey_result(file_report(journeys, chosen, settings, engine=engine))
    table = _as_arrow(journeys)
    with tempfile.TemporaryDirectory(prefix="truce-journeys-") as folder:
        path = Path(folder) / "journeys.parquet"
        import pyarrow.parquet as pq

        pq.write_table(table, path)
        try:
            result = file_report(path, chosen, settings, engine=engine)
        except ValueError as exc:
            # The file is ours, not the caller's: name their table instead, rows counted from 1.
            raise type(exc)(str(exc).replace(str(path), "journeys")) from None
    return _journey_result(result)


def _journey_result(result) -> JourneyAttribution:
    report = typed(JourneyAttribution, result.report)
    report._notes = list(result.notes)
    return report


def _as_arrow(journeys: Any):
    import pyarrow as pa

    if isinstance(journeys, pa.Table):
        return journeys
    kind = type(journeys).__module__.split(".")[0]
    if kind == "polars":
        return journeys.to_arrow()
    if kind == "pandas":
        return pa.Table.from_pandas(journeys, preserve_index=False)
    if hasattr(journeys, "__arrow_c_stream__"):
        return pa.table(journeys)
    raise TypeError(
        f"journeys must be a pandas or polars DataFrame, a pyarrow Table or a file path, not {type(journeys).__name__}"
    )


# ---- dates and moments, named when wrong -------------------------------------------------------------


def _day(name: str, value: Day) -> dt.date | None:
    from truce.domain import calendar_range

    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31") from None
    try:
        return calendar_range.check_day(value)
    except calendar_range.OutsideCalendar as exc:
        raise ValueError(f"{name}: {exc}") from None


def _moment(name: str, value: When) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{name}: {value!r} is not a moment; write it as ISO 8601, e.g. 2026-11-20T09:00Z"
            ) from None
    elif not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(), dt.UTC)
    _day(name, value.date())
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
