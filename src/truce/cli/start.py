"""Getting started: `truce init`, `truce config check`, `truce demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from truce.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    console,
    fail,
    handled,
    load_config,
    parse_day,
    print_json,
)

config_app = typer.Typer(help="Check the shared funnel config (truce.toml).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("demo")(demo)
    app.add_typer(config_app, name="config")


def init(
    path: Annotated[Path, typer.Option("--path", help="Where to write the config.")] = Path("truce.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    db: DbOption = None,
) -> None:
    """Write a commented truce.toml (the demand waterfall) and create the database.

    Example:  truce init && truce import contacts hubspot-contacts.csv
    """
    from truce import config
    from truce.store import db as store

    if path.exists() and not force:
        fail(f"{path} already exists; use --force to overwrite it")
    path.write_text(config.default_text(), encoding="utf-8")
    engine = store.connect(db)
    store.upgrade(engine)
    console.print(
        f"Wrote [bold]{path}[/]: the funnel both teams sign. Edit it together, then run [bold]truce config check[/]."
    )
    console.print(f"Database ready at [bold]{store.describe(str(engine.url))}[/].")


@config_app.command("check")
def config_check(config: ConfigOption = None, json: JsonOption = False) -> None:
    """Validate truce.toml and show the funnel it defines.

    Example:  truce config check --config ./truce.toml
    """
    with handled():
        loaded = load_config(config)
    funnel = loaded.funnel
    if json:
        print_json({"source": loaded.source_path, "valid": True, **loaded.model_dump(mode="json")}, report="ConfigChecked")
        return
    from rich.table import Table

    table = Table(title=f"Funnel from {loaded.source_path}")
    for column in ("#", "stage", "label", "team", "role"):
        table.add_column(column)
    for number, stage in enumerate(funnel.stages, 1):
        role = {funnel.handoff_stage: "handoff", funnel.accepted_stage: "accepted"}.get(stage.key, "")
        table.add_row(str(number), stage.key, stage.label, stage.team, role)
    for stage in funnel.exits:
        table.add_row("exit", stage.key, stage.label, stage.team, "")
    console.print(table)
    codes = ", ".join(r.code for r in funnel.rejection_reasons)
    console.print(f"Rejection reasons: {codes}\n[green]valid[/]")


def demo(
    contacts: Annotated[
        int, typer.Option(min=100, max=5_000_000, help="How many contacts (leads) to generate.")
    ] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed builds the same company.")] = 7,
    force: Annotated[
        bool, typer.Option("--force", help="Replace what the database holds, if its history is the demo's own.")
    ] = False,
    discard_history: Annotated[
        bool,
        typer.Option(
            "--discard-history",
            help="With --force: replace it even though it holds audit entries or stage moves the demo did not "
            "write; they are lost.",
        ),
    ] = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="Then serve the web app on 127.0.0.1, with a demo login per role (passwords shown once)."
        ),
    ] = False,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port for --serve.")] = 8000,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATE",
            help="End the history at 00:00 UTC on this day, YYYY-MM-DD, instead of now (a data set that stays the same).",
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Build a realistic demo company (two years of a B2B software seller, up to now) and summarise it.

    The history runs up to the moment you build it: the handoff queue has leads due in the next
    hours and a few overdue, and clocks, scores and cold leads read true today. The cast the
    README uses is in it: eva.lind@truce-demo.example (a seller, owner of the key account Acme
    Analytics, with Ann Fischer and Bob Novak of acme.example waiting in her queue),
    mia.ross@truce-demo.example (marketing) and owen.price@truce-demo.example (RevOps). Two survey
    rounds, joint account plans and last week's meeting with its decisions come with it.

    Both teams, 12+ channels with costs, slow follow-ups, rejected and recycled MQLs,
    discounting sellers, wins and losses with reasons. With --serve, it then serves the web
    app and prints a login for each role (sales, marketing, revops, viewer) with a password
    made for this run.

    --force replaces a store whose audit trail and stage ledger the demo wrote itself. History
    anyone else wrote (audit entries not by "demo", stage moves not of origin "demo": an
    import, a lead moved in the web app) is refused, naming how much, unless --discard-history.

    Example:  truce demo --contacts 2000 --db demo.db
    Example:  truce demo --serve --force
    Example:  truce demo --as-of 2026-11-20 --db fixed.db
    """
    import datetime as dt

    from truce.services import demo as demo_service
    from truce.store import db as store

    day = parse_day("--as-of", as_of)
    now = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC) if day else dt.datetime.now(dt.UTC)
    with handled():
        loaded = load_config(config)
    engine = store.connect(db)
    if force:
        try:
            demo_service.reset(engine, discard_history=discard_history)
        except store.HistoryAtStake as exc:
            fail(f"{exc}. To replace it anyway, add --discard-history.")
    try:
        with _progress(json) as advance:
            demo_service.build(engine, contacts=contacts, seed=seed, progress=advance, config=loaded, now=now)
    except demo_service.NotEmpty as exc:
        fail(str(exc))
    result = demo_service.summary(engine, loaded)
    logins = _demo_logins(engine) if serve else None
    if json:
        built = {"database": store.describe(str(engine.url)), **result, **({"logins": logins} if serve else {})}
        print_json(built, report="DemoBuilt")
    else:
        _show_summary(result, store.describe(str(engine.url)))
    if serve:
        assert logins is not None  # made above when serving
        _serve(logins, port, db, config, quiet=json)


def _demo_logins(engine) -> list[dict]:
    from truce.services.demo_logins import add_demo_logins

    return add_demo_logins(engine)


def _serve(logins: list[dict], port: int, db: str | None, config: str | None, quiet: bool) -> None:
    from truce.cli.serve import serve

    if not quiet:
        from rich.table import Table

        table = Table(title="Demo logins: passwords are made for this run and shown only now", title_justify="left")
        for column in ("role", "email", "password"):
            table.add_column(column)
        for login in logins:
            table.add_row(login["role"], login["email"], login["password"])
        console.print(table)
        console.print(f"Open [bold]http://127.0.0.1:{port}/[/] and log in as any of them. Ctrl-C stops the server.")
    serve(host="127.0.0.1", port=port, db=db, config=config)


def _progress(quiet: bool):
    from contextlib import contextmanager

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    @contextmanager
    def bar():
        if quiet:
            yield lambda *_: None
            return
        with Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            tasks: dict[str, int] = {}

            def advance(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = progress.add_task(step, total=total)
                progress.update(tasks[step], completed=done, total=total)

            yield advance

    return bar()


def _show_summary(result: dict, where: str) -> None:
    from rich.table import Table

    console.print(f"[bold]Demo company built[/] in {where}\n")
    counts = Table(title="Records")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name, rows in result["tables"].items():
        counts.add_row(name, f"{rows:,}")
    console.print(counts)
    stages = Table(title="Contacts per funnel stage")
    stages.add_column("stage")
    stages.add_column("contacts", justify="right")
    for stage, n in result["contacts_per_stage"].items():
        stages.add_row(stage, f"{n:,}")
    console.print(stages)
    channels = Table(title="Top channels by revenue won")
    for column in ("channel", "contacts", "revenue won"):
        channels.add_column(column, justify="left" if column == "channel" else "right")
    for row in result["top_channels"]:
        channels.add_row(row["channel"], f"{row['contacts']:,}", f"{row['revenue_won']:,.2f}")
    console.print(channels)
    console.print(
        f"Revenue won: [bold]{result['revenue_won']:,.2f}[/] from {result['deals_won']:,} deals. "
        f"Touchpoints: {result['touchpoints_by_team']['marketing']:,} marketing, "
        f"{result['touchpoints_by_team']['sales']:,} sales."
    )
    console.print("Next: [bold]truce status[/], [bold]truce export contacts --format csv[/]")
