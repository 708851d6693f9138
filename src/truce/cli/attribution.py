"""Who gets credit for revenue: `truce attribution`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from truce.cli.common import (
    ATTRIBUTION_MODELS,
    ConfigOption,
    DbOption,
    JsonOption,
    SparkMasterOption,
    choose_spark_master,
    config_and_store,
    console,
    fail,
    handled,
    load_config,
    parse_day,
    print_json,
)

Model = StrEnum("Model", {name: name for name in ATTRIBUTION_MODELS})  # type: ignore[misc]  # members from the vocabulary; mypy reads only literal ones


class By(StrEnum):
    channel = "channel"
    campaign = "campaign"
    team = "team"
    user = "user"


class Level(StrEnum):
    contact = "contact"
    account = "account"


class Conversion(StrEnum):
    won = "won"
    opportunity = "opportunity"
    sql = "sql"
    mql = "mql"


class Engine(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


def register(app: typer.Typer) -> None:
    app.command("attribution")(attribution)


def attribution(
    model: Annotated[
        Model | None, typer.Option("--model", help="The attribution model. Default: [attribution] model in truce.toml.")
    ] = None,
    by: Annotated[
        By, typer.Option("--by", help="Credit channels, campaigns, teams (marketing vs sales) or people.")
    ] = By.channel,
    level: Annotated[
        Level | None, typer.Option("--level", help="Journeys per contact, or per account (its buying group together).")
    ] = None,
    conversion: Annotated[
        Conversion | None,
        typer.Option(
            "--conversion", help="What converts: a won deal, a deal created (pipeline), or the first sql / mql."
        ),
    ] = None,
    lookback: Annotated[
        int | None,
        typer.Option("--lookback", min=1, metavar="DAYS", help="Touches count this many days before a conversion."),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", metavar="DATE", help="First conversion day counted, YYYY-MM-DD (UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", metavar="DATE", help="Last conversion day counted, YYYY-MM-DD (UTC).")
    ] = None,
    from_file: Annotated[
        str | None,
        typer.Option(
            "--from-file",
            metavar="FILE",
            help="Attribute a journeys file (CSV or Parquet: journey_id, timestamp, channel, converted, revenue) instead of the store.",
        ),
    ] = None,
    engine: Annotated[
        Engine, typer.Option("--engine", help="Run on DuckDB in process, or on Spark (the spark extra), which reads the analytical copy's files itself.")
    ] = Engine.duckdb,
    spark_master: SparkMasterOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Credit conversions and revenue to the touches before them — marketing's and sales' alike.

    Rule-based models (first_touch, last_touch, linear, time_decay, position_based, w_shaped, full_path) and data-driven ones: markov (removal effects solved exactly on the absorbing chain, no simulation) and shapley (exact per channel set). Credits always add up to the converted total. docs/attribution.md gives every rule.

    Example:  truce attribution --model markov --by team
    Example:  truce attribution --from-file journeys.parquet --model shapley --json
    """
    choose_spark_master(spark_master, engine.value)
    if from_file is not None:
        _from_file(from_file, model, engine, config, json)
        return
    first, last = parse_day("--from", start), parse_day("--to", end)
    from truce.services.attribution import ReportError, attribution_report

    with handled():
        loaded, store = config_and_store(config, db)
        try:
            data = attribution_report(
                store,
                loaded,
                model=model.value if model else None,
                by=by.value,
                conversion=conversion.value if conversion else None,
                level=level.value if level else None,
                lookback_days=lookback,
                start=first,
                end=last,
                backend=engine.value,
            )
        except ReportError as exc:
            fail(str(exc))
    if json:
        print_json(data, report="AttributionReport")
        return
    _show(data, loaded.company.currency)


def _from_file(path: str, model: Model | None, engine: Engine, config: str | None, json: bool) -> None:
    from truce.analytics.longfile import FileError
    from truce.services.attribution_file import file_report
    from truce.services.attribution_runner import ModelError, Settings

    with handled():
        loaded = load_config(config)
        chosen = model.value if model else loaded.attribution.model
        try:
            result = file_report(path, chosen, Settings.from_config(loaded.attribution), engine=engine.value)
        except (FileError, ModelError) as exc:
            fail(str(exc))
    if json:
        print_json(result.report, report="JourneyAttribution")
        return
    report = result.report
    rows = [
        {
            "key": r["channel"],
            "label": r["channel"],
            "conversions": r["conversions"],
            "revenue": r["revenue"],
            "share": r["share"],
        }
        for r in report["channels"]
    ]
    data = {
        "model": report["model"],
        "by": "channel",
        "total_conversions": report["total_conversions"],
        "total_revenue": report["total_revenue"],
        "credits": rows,
        "notes": result.notes,
    }
    console.print(f"[bold]{path}[/]", soft_wrap=True)  # a path stays whole, to copy
    _show(data, loaded.company.currency)


def _show(data: dict, currency: str) -> None:
    from rich.table import Table

    heading = f"[bold]{data['model']}[/] attribution by {data['by']}"
    if "conversion" in data:
        heading += (
            f" — conversion: {data['conversion']}, {data['level']} journeys, {data['lookback_days']}-day lookback"
        )
    console.print(heading)
    console.print(
        f"{data['total_conversions']:,.0f} conversions, {data['total_revenue']:,.2f} {currency} revenue"
        + (f" over {data['journeys']:,} journeys" if "journeys" in data else "")
    )
    missed = data.get("unattributed") or {}
    if missed.get("conversions"):
        console.print(
            f"[yellow]{missed['conversions']:,} conversions ({missed['revenue']:,.2f} {currency}) had no touch "
            "in the lookback window and are not credited to anyone.[/]"
        )
    table = Table(title_justify="left")
    table.add_column(data["by"])
    table.add_column("conversions", justify="right")
    table.add_column("revenue", justify="right")
    table.add_column("share", justify="right")
    table.add_column("")
    widest = max((abs(r["revenue"]) for r in data["credits"]), default=0) or 1
    for r in data["credits"]:
        bar = "█" * round(24 * max(r["revenue"], 0) / widest)
        label = r.get("label") or r["key"]
        table.add_row(str(label), f"{r['conversions']:,.2f}", f"{r['revenue']:,.2f}", f"{r['share']:.1%}", bar)
    console.print(table)
    for note in data.get("notes", []):
        console.print(f"[dim]{note}[/]")
