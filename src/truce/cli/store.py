"""The database itself: `truce db upgrade|downgrade|current` and `truce status`."""

from __future__ import annotations

from typing import Annotated

import typer

from truce.cli.common import DbOption, JsonOption, console, fail, handled, open_store, print_json

db_app = typer.Typer(help="Create or migrate the database schema (Alembic migrations).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command("status")(status)


@db_app.command("upgrade")
def upgrade(
    db: DbOption = None,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Create the tables, or migrate them to this version of truce.

    Example:  truce db upgrade --db postgresql://truce@localhost/truce
    """
    from truce.store import db as store

    engine = store.connect(db)
    before = store.current_revision(engine)
    store.upgrade(engine, revision)
    console.print(f"{store.describe(str(engine.url))}: schema {before or 'empty'} → {store.current_revision(engine)}")


@db_app.command("downgrade")
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' removes every truce table.")],
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm that data in dropped tables is lost.")] = False,
    discard_history: Annotated[
        bool,
        typer.Option(
            "--discard-history",
            help="Drop the audit trail and the stage ledger even though they hold rows: every entry is lost.",
        ),
    ] = False,
) -> None:
    """Migrate the schema back to an older revision. Dropped tables lose their data.

    A downgrade that would drop the audit trail and the stage ledger (to base) is refused while
    they hold rows, naming how many, unless --discard-history is given too.

    Example:  truce db downgrade 0012 --yes
    """
    from alembic.util import CommandError

    from truce.store import db as store

    if not yes:
        fail("downgrading can drop tables and their data; add --yes to confirm")
    engine = store.connect(db)
    try:
        store.downgrade(engine, revision, discard_history=discard_history)
    except store.HistoryAtStake as exc:
        fail(f"{exc}. To drop them anyway, add --discard-history.")
    except store.OlderSchemaCannotHold as exc:
        fail(str(exc))
    except CommandError as exc:
        fail(f"cannot downgrade to {revision!r}: {exc}")
    console.print(f"{store.describe(str(engine.url))}: schema now {store.current_revision(engine) or 'empty'}")


@db_app.command("current")
def current(db: DbOption = None, json: JsonOption = False) -> None:
    """Show the schema revision of the database and the one this truce needs.

    Example:  truce db current --json
    """
    from truce.store import db as store

    engine = store.connect(db)
    data = {
        "database": store.describe(str(engine.url)),
        "current": store.current_revision(engine),
        "head": store.head_revision(),
    }
    if json:
        print_json(data, report="SchemaVersion")
    else:
        console.print(f"{data['database']}: at {data['current'] or 'empty'}, this truce needs {data['head']}")


def status(db: DbOption = None, json: JsonOption = False) -> None:
    """Rows per table and the schema version.

    Example:  truce status --json
    """
    from truce.services.status import status as read_status

    with handled():
        engine = open_store(db)
        data = read_status(engine)
    if json:
        print_json(data, report="StoreStatus")
        return
    from rich.table import Table

    table = Table(title=f"{data['database']} — schema {data['schema_version']}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in data["tables"].items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
