"""What every command shares: --db, --json, opening the store, and errors a person can act on."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
SparkMasterOption = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        metavar="URL",
        help="With --engine spark, where Spark runs: local[N], spark://host:7077, or a Spark Connect "
        "server sc://host:15002. Default: $TRUCE_SPARK_MASTER, else local[2].",
        show_default=False,
    ),
]
WIDE_HELP = "Show every column of each table even when wider than the terminal."

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON instead of tables.")]
ConfigOption = Annotated[
    str | None,
    typer.Option("--config", help="truce.toml to use. Default: $TRUCE_CONFIG, else ./truce.toml, else built-in."),
]

# ---- tables that fit the terminal ---------------------------------------------------------------
#
# Rich shrinks a table that is wider than the terminal by cutting its cells ("196,…", "reve…", and
# at worst a row of "┃┃┃"). A cut figure is worse than a missing column: people copy the emails
# they pass to --as, and read money to the unit. So a table that does not fit loses whole columns,
# in the order its report declared with `drop_first`, then bar columns, then from the right, and a
# line under it names what was left out; `--wide` (on every command that has --json) shows all.


def drop_first(table: Table, *headers: str) -> Table:
    """Declare which columns may be left out first when the table is wider than the terminal."""
    table.truce_drop_first = headers  # type: ignore[attr-defined]
    return table


def remember_wide(_ctx, _param, value: bool) -> bool:
    """--wide's callback: the choice lasts for this one command (the root command resets it)."""
    console.wide = bool(value)
    return value


def _measure(table: Table, console: Console) -> list[tuple[int, int]]:
    """Each column's (narrowest without cutting a word, natural) width, padding included."""
    options = console.options.update(width=1_000_000)
    measured = []
    for column in table.columns:
        low, high = table._measure_column(console, options, column)
        # a column that may not wrap needs its whole width, or Rich cuts it with "…"
        measured.append((high if column.no_wrap else low, high))
    return measured


def _drop_order(table: Table) -> list[int]:
    """Column positions in the order they may go: declared, then bars, then right to left; never the first."""
    headers = [str(column.header) for column in table.columns]
    declared = [headers.index(h) for h in getattr(table, "truce_drop_first", ()) if h in headers]
    bars = [i for i, h in enumerate(headers) if not h.strip()]
    rest = list(range(len(headers) - 1, 0, -1))
    return [i for i in dict.fromkeys(declared + bars + rest) if i != 0]


def _keep(table: Table, positions: list[int]) -> Table:
    import copy

    kept = copy.copy(table)
    kept.columns = []
    for new_index, position in enumerate(positions):
        column = copy.copy(table.columns[position])
        column._index = new_index
        kept.columns.append(column)
    return kept


def _column_name(column) -> str:
    return str(column.header).strip() or "the bar"


def fit_table(table: Table, console: Console, width: int) -> tuple[Table, list[str]]:
    """The table narrowed to `width` without cutting a value, and the names of the columns left out."""
    measured = _measure(table, console)
    extra = table._extra_width
    if sum(high for _, high in measured) + extra <= width:
        return table, []
    kept = list(range(len(table.columns)))
    for position in _drop_order(table):
        if sum(measured[i][0] for i in kept) + (extra - (len(table.columns) - len(kept))) <= width:
            break
        kept.remove(position)
    left_out = [_column_name(table.columns[i]) for i in range(len(table.columns)) if i not in kept]
    fitted = _keep(table, kept)
    _share_width(fitted, [measured[i] for i in kept], width - fitted._extra_width)
    return fitted, left_out


def _share_width(table: Table, measured: list[tuple[int, int]], room: int) -> None:
    """Fix each column's width: its narrowest, plus a share of what is left for those that would use it."""
    widths = [low for low, _ in measured]
    spare = room - sum(widths)
    wants = [high - low for low, high in measured]
    total = sum(wants)
    if spare > 0 and total:
        for i, want in enumerate(wants):
            widths[i] += min(want, spare * want // total)
    for column, width in zip(table.columns, widths, strict=True):
        column.width = max(1, width - table._get_padding_width(column._index))


class FittingConsole(Console):
    """The console commands print to: tables are fitted to the terminal (see `fit_table`)."""

    wide = False  # set by --wide

    def print(self, *objects, **options) -> None:  # type: ignore[override]
        if not any(isinstance(o, Table) for o in objects):
            super().print(*objects, **options)
            return
        for obj in objects:
            if isinstance(obj, Table):
                self._print_table(obj, **options)
            else:
                super().print(obj, **options)

    def _print_table(self, table: Table, **options) -> None:
        if self.wide:
            natural = sum(high for _, high in _measure(table, self)) + table._extra_width
            saved = self._width
            self._width = max(natural, self.width)
            try:
                super().print(table, **options)
            finally:
                self._width = saved
            return
        fitted, left_out = fit_table(table, self, self.width)
        super().print(fitted, **options)
        if left_out:
            super().print(
                f"[dim]Left out to fit {self.width} columns: {escape(', '.join(left_out))}. --wide shows every column.[/]",
                highlight=False,
            )


console = FittingConsole()
errors = Console(stderr=True)


def counted(n: int, noun: str) -> str:
    """ "1 account", "2 accounts": a count with its noun in the right number (nouns truce counts
    take an -s)."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def moment(value) -> str:
    """A moment as the reports write it, to the minute in UTC: "2026-11-03 14:05 UTC"."""
    import datetime as dt

    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


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
    from truce.imports.problems import FileProblem
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
    """The funnel config and the store, the pair most commands start from.

    The store's newest funnel and SLA, when RevOps saved one through the web app or the API,
    replace this truce.toml's (docs/deploy.md): every command and every server on one store
    counts with the same funnel."""
    loaded, store = load_config(config), open_store(db)
    return _funnel_in_force(store, loaded), store


def _funnel_in_force(store, loaded):
    from sqlalchemy import inspect

    from truce.config import ConfigError
    from truce.services import funnel_config

    if not inspect(store).has_table("funnel_config_versions"):
        return loaded  # a store not yet upgraded has no saved versions
    try:
        return funnel_config.in_force(store, loaded)
    except ConfigError as error:
        fail(f"the funnel config saved in the store does not fit this truce.toml: {error}")


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


# ---- help that the terminal wraps --------------------------------------------------------------


def finish_commands(group, help_names: list[str]) -> None:
    """Give every command of the tree what the terminal needs: --wide wherever there is --json,
    prose help that the terminal wraps, and boolean flags shown as flags."""
    for command in group.commands.values():
        if hasattr(command, "commands"):
            finish_commands(command, help_names)
        else:
            _finish(command, help_names)
    _finish(group, help_names)  # a group's own report (`truce sla`) has options too


def _finish(command, help_names: list[str]) -> None:
    import typer

    json_option = next((p for p in command.params if "--json" in getattr(p, "opts", ())), None)
    if json_option is not None and not any("--wide" in getattr(p, "opts", ()) for p in command.params):
        command.params.append(_wide_option(json_option))
    command.help = reflow(command.help)
    # Typer 0.29 prints the type of every option, so a flag reads "--dry-run <bool>" as if it took
    # a value; an empty metavar shows it as the flag it is. The help option is made on first use,
    # so make it now (with the names the app uses) to reach it.
    help_option = command.get_help_option(typer.Context(command, help_option_names=help_names))
    for param in [*command.params, help_option]:
        if param is not None and getattr(param, "is_flag", False):
            param.metavar = ""


def _wide_option(json_option):
    """--wide, made as a twin of the command's own --json flag so that Typer renders and parses it
    like the options it declared itself; it reaches the console, not the command's function."""
    import copy

    wide = copy.copy(json_option)
    wide.name, wide.opts, wide.secondary_opts = "wide", ["--wide"], []
    wide.help, wide.expose_value, wide.callback = WIDE_HELP, False, remember_wide
    return wide


def reflow(text: str | None) -> str | None:
    """Help text with its prose paragraphs joined into one line each, so the terminal wraps them at
    its own width; paragraphs with indented lines or lists (examples, steps) keep their line breaks."""
    import inspect

    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if _laid_out(p) else " ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _laid_out(paragraph: str) -> bool:
    lines = paragraph.splitlines()
    return paragraph.startswith(("\b", "Example")) or any(
        line[:1].isspace() or line.lstrip().startswith(("- ", "* ", "• ")) or line.lstrip()[:2].rstrip(".").isdigit()
        for line in lines[1:]
    )


def choose_spark_master(url: str | None, engine: str) -> None:
    """--spark-master: where the next Spark session runs; refused without --engine spark.
    With --engine spark, $TRUCE_SPARK_MEMORY is checked here too, before any work starts."""
    if engine == "spark":
        from truce.analytics.spark import _memory

        try:
            _memory()
        except ValueError as exc:
            fail(str(exc))
    if url is None:
        return
    if engine != "spark":
        fail("--spark-master is where Spark runs: add --engine spark")
    from truce.analytics.spark import use_master

    try:
        use_master(url)
    except ValueError as exc:
        fail(f"--spark-master: {exc}")
