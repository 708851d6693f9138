"""What every command shares: --db, --json, opening the store, and errors a person can act on."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console

# The models [attribution] model accepts, for every command's --model; truce.vocabulary loads
# neither pydantic nor numpy, so `truce --help` stays instant.
from truce.vocabulary import ATTRIBUTION_MODELS as ATTRIBUTION_MODELS

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL or SQLite file. Default: $TRUCE_DATABASE_URL, else ./truce.db.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON instead of tables.")]
ConfigOption = Annotated[
    str | None,
    typer.Option("--config", help="truce.toml to use. Default: $TRUCE_CONFIG, else ./truce.toml, else built-in."),
]

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(data, report: str | None = None) -> None:
    """--json: the API's encoder (truce.reports), so NaN is null and money exact text in both.

    report: the name of the report's model in truce.reports.models, which the API's route also
    answers with; named, not imported, so that `truce --help` does not load pydantic."""
    from truce.reports import dumps, typed

    if report is not None:
        from truce.reports import models

        data = typed(getattr(models, report), data)
    sys.stdout.write(dumps(data, indent=2) + "\n")


@contextmanager
def handled() -> Iterator[None]:
    """Turn the errors users cause into one clear line and a non-zero exit, not a traceback."""
    from truce.config import ConfigError
    from truce.domain.business_hours import OutOfRange
    from truce.imports.csvfile import FileProblem
    from truce.store.db import SchemaError

    try:
        yield
    except (ConfigError, SchemaError, FileProblem) as exc:
        fail(str(exc))
    except OutOfRange as exc:
        fail(f"cannot run the SLA clocks that far: {exc}; choose a moment nearer the data")


def open_store(db: str | None, *, check_schema: bool = True):
    """An engine for the chosen database, refusing one whose schema is missing or old."""
    from sqlalchemy.exc import OperationalError

    from truce.store import db as store

    engine = store.connect(db)
    if check_schema:
        try:
            store.require_current_schema(engine)
        except OperationalError as exc:
            fail(f"cannot open {store.describe(str(engine.url))}: {exc.orig}")
    return engine


def load_config(path: str | None):
    from truce import config

    return config.load(path)


def config_and_store(config: str | None, db: str | None):
    """The funnel config and the store, the pair most commands start from."""
    return load_config(config), open_store(db)


def parse_day(option: str, text: str | None):
    """A YYYY-MM-DD option as a date within truce's calendar, or a clear error naming the option."""
    import datetime as dt

    if text is None:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31")
    return in_calendar(option, day)


def in_calendar(option: str, day):
    """The day (a moment's date as written), or an error naming the option when it is outside
    1900-01-01 to 2999-12-31 (truce.domain.calendar_range)."""
    from truce.domain import calendar_range

    try:
        return calendar_range.check_day(day)
    except calendar_range.OutsideCalendar as exc:
        fail(f"{option} {exc}")
