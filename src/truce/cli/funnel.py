"""The shared funnel: `truce funnel`."""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum
from typing import Annotated

import typer

from truce.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    SparkMasterOption,
    choose_spark_master,
    config_and_store,
    console,
    fail,
    handled,
    parse_day,
    print_json,
)


class By(StrEnum):
    channel = "channel"
    segment = "segment"
    team = "team"
    month = "month"


class Level(StrEnum):
    contact = "contact"
    account = "account"


class Engine(StrEnum):
    duckdb = "duckdb"
    store = "store"
    spark = "spark"


def register(app: typer.Typer) -> None:
    app.command("funnel")(funnel)


def funnel(
    by: Annotated[
        By | None, typer.Option("--by", help="Slice every number by source channel, segment, owning team or month.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", metavar="DATE", help="First day counted, YYYY-MM-DD (UTC).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", metavar="DATE", help="Last day counted, YYYY-MM-DD (UTC).")] = None,
    level: Annotated[
        Level, typer.Option("--level", help="Count contacts, or accounts (reached when their first contact is).")
    ] = Level.contact,
    window: Annotated[
        int, typer.Option("--window", min=1, metavar="DAYS", help="Days a cohort has to reach the next stage.")
    ] = 90,
    engine: Annotated[
        Engine, typer.Option("--engine", help="Run on DuckDB in process, inside the store's own database, or on Spark (the spark extra).")
    ] = Engine.duckdb,
    spark_master: SparkMasterOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Volume, conversion, skipped stages, velocity and leakage of the shared funnel.

    Conversion in two views: cohort (of the leads entering a stage in a month, how many reach the next one within --window days) and period (entries into the next stage ÷ entries into this one, month by month). Months are UTC calendar months.

    Example:  truce funnel --by channel --from 2026-01-01 --to 2026-06-30
    """
    choose_spark_master(spark_master, engine.value)
    first, last = parse_day("--from", start), parse_day("--to", end)
    from truce.services.funnel import ReportError, funnel_report

    with handled():
        loaded, store = config_and_store(config, db)
        try:
            data = funnel_report(
                store,
                loaded,
                by=by.value if by else None,
                start=first,
                end=last,
                level=level.value,
                backend=engine.value,
                window_days=window,
            )
        except ReportError as exc:
            fail(str(exc))
    if json:
        print_json(data, report="FunnelReport")
        return
    _show(data)


# ---- tables ----------------------------------------------------------------------------------


def _show(data: dict) -> None:
    from rich.table import Table

    sliced = data["by"] is not None
    who = "contacts" if data["level"] == "contact" else "accounts"
    span = f"{data['from'] or 'the start'} to {data['to'] or 'the last move'}"
    console.print(
        f"[bold]Funnel of {who}[/], {span}"
        + (f", by {data['by']}" if sliced else "")
        + (f" — ledger as of {data['as_of'][:16].replace('T', ' ')} UTC" if data["as_of"] else " — the ledger is empty")
    )

    def table(title: str, *columns: str) -> Table:
        shown = Table(title=title, title_justify="left")
        if sliced:
            shown.add_column(data["by"])
        for column in columns:
            shown.add_column(column, justify="left" if column in ("stage", "move", "skipped", "reasons") else "right")
        return shown

    def row(shown: Table, part, *cells) -> None:
        shown.add_row(*([_text(part)] if sliced else []), *cells)

    if not sliced:
        _show_monthly(data)
    volume = table(f"Volume — {who} entering each stage, and where they are now", "stage", "entered", "now")
    entered = {(r["stage"], r["slice"]): r["entered"] for r in data["volume"]["total"]}
    now = {(r["stage"], r["slice"]): r["count"] for r in data["volume"]["snapshot"]}
    for part in _slices(entered, now):
        for stage in data["stages"] + data["exits"]:
            if (stage, part) in entered or (stage, part) in now or not sliced:
                row(volume, part, stage, f"{entered.get((stage, part), 0):,}", f"{now.get((stage, part), 0):,}")
    console.print(volume)

    conversion = table(
        f"Conversion — cohort within {data['window_days']} days, and period view",
        "move",
        "cohort",
        "converted",
        "rate",
        "window open",
        "period rate",
    )
    period = {(r["from_stage"], r["slice"]): r for r in data["conversion"]["period"]["total"]}
    for r in data["conversion"]["cohort"]["total"]:
        view = period.get((r["from_stage"], r["slice"]), {})
        row(
            conversion,
            r["slice"],
            f"{r['from_stage']} → {r['to_stage']}",
            f"{r['entered']:,}",
            f"{r['converted']:,}",
            _percent(r["rate"]),
            f"{r['window_open']:,}",
            _percent(view.get("rate")),
        )
    console.print(conversion)

    if data["skips"]["moves"]:
        skips = table("Skipped stages — moves that jumped over a stage", "move", "skipped", "moves")
        for r in data["skips"]["moves"]:
            row(skips, r["slice"], f"{r['from_stage']} → {r['to_stage']}", ", ".join(r["skipped"]), f"{r['moves']:,}")
        console.print(skips)
    else:
        console.print("No move skipped a stage.")

    velocity = table("Velocity — days in stage (closed spells)", "stage", "median", "p75", "closed", "still open")
    for r in data["velocity"]:
        row(
            velocity,
            r["slice"],
            r["stage"],
            _days(r["median_days"]),
            _days(r["p75_days"]),
            f"{r['closed']:,}",
            f"{r['open']:,}",
        )
    console.print(velocity)

    leakage = table("Leakage — moves out of the funnel", "stage", "moves", "without reason", "reasons")
    reasons: defaultdict[tuple[str, str | None], defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in data["leakage"]["moves"]:
        reasons[r["from_stage"], r["slice"]][f"{r['to_stage']}: {r['reason'] or '(none)'}"] += r["moves"]
    for r in data["leakage"]["stages"]:
        top = sorted(reasons[r["from_stage"], r["slice"]].items(), key=lambda kv: (-kv[1], kv[0]))
        listed = ", ".join(f"{name} {n:,}" for name, n in top[:4]) + (
            f", and {len(top) - 4:,} more" if len(top) > 4 else ""
        )
        row(leakage, r["slice"], r["from_stage"], f"{r['moves']:,}", f"{r['without_reason']:,}", listed)
    console.print(leakage)


def _show_monthly(data: dict) -> None:
    from rich.table import Table

    if not data["volume"]["monthly"]:
        return
    counts = {(r["month"], r["stage"]): r["entered"] for r in data["volume"]["monthly"]}
    monthly = Table(title="Entered per month", title_justify="left")
    monthly.add_column("month")
    for stage in data["stages"]:
        monthly.add_column(stage, justify="right")
    for month in data["months"]:
        monthly.add_row(month, *(f"{counts.get((month, stage), 0):,}" for stage in data["stages"]))
    console.print(monthly)


def _slices(*tables: dict) -> list:
    found = {part for table in tables for (_, part) in table}
    return sorted(found, key=lambda part: (part is None, str(part)))


def _text(value) -> str:
    return "(none)" if value is None else str(value)


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def _days(days: float | None) -> str:
    return "—" if days is None else f"{days:.1f}"
