"""Moving data in and out: `truce import` and `truce export`."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from truce.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    config_and_store,
    console,
    errors,
    fail,
    handled,
    open_store,
    print_json,
)


class ImportTable(StrEnum):
    users = "users"
    accounts = "accounts"
    contacts = "contacts"
    campaigns = "campaigns"
    touchpoints = "touchpoints"
    opportunities = "opportunities"
    stage_changes = "stage-changes"


class Dialect(StrEnum):
    truce = "truce"
    salesforce = "salesforce"
    hubspot = "hubspot"


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
    app.command("export")(export_command)


def _read_mapping(path: Path | None) -> dict[str, str] | None:
    """A --mapping file: a CSV with columns `header,field`, or a TOML table of header = field."""
    if path is None:
        return None
    if not path.is_file():
        fail(f"{path}: no such mapping file")
    if path.suffix == ".toml":
        import tomllib

        try:
            return {str(k): str(v) for k, v in tomllib.loads(path.read_text(encoding="utf-8")).items()}
        except tomllib.TOMLDecodeError as exc:
            fail(f"{path}: not valid TOML: {exc}")
    import csv

    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["header", "field"]:
        rows = rows[1:]
    bad = [i for i, row in enumerate(rows, 2) if len(row) < 2 or not row[0].strip() or not row[1].strip()]
    if bad:
        fail(f"{path}: line {bad[0]}: expected two cells, your header and the truce field it means")
    return {row[0].strip(): row[1].strip() for row in rows}


def import_command(
    table: Annotated[ImportTable, typer.Argument(help="What the file holds.")],
    file: Annotated[
        Path, typer.Argument(help="A CSV export (UTF-8, comma or semicolon separated), or a Parquet file.", show_default=False)
    ],
    format: Annotated[
        Dialect | None, typer.Option("--format", help="Force the dialect instead of detecting it from the header.")
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping", help="CSV (header,field) or TOML naming the truce field for headers truce does not know."
        ),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid", help="Load the good rows; write the bad ones with a reason column to a rejects CSV."
        ),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Where --skip-invalid writes rejected rows. Default: FILE.rejects.csv."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; write nothing.")] = False,
    day_first: Annotated[
        bool, typer.Option("--day-first", help="Read dates like 03/04/2026 as 3 April (DD/MM/YYYY).")
    ] = False,
    actor: Annotated[
        str | None, typer.Option("--as", help="Who is importing, for the audit trail. Default: $TRUCE_USER.")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Load a CSV export (or a Parquet file, such as truce export writes) into the shared database:
    all rows or none.

    Reads truce's own columns, Salesforce exports (API names or report labels) and HubSpot
    exports (including the "Became a … Date" columns, which become stage history). Every bad
    row is reported with its line, column and reason, and by default nothing is written.
    Re-importing the same file changes nothing: records are matched by id, then by email.

    Examples:
      truce import accounts accounts.csv
      truce import contacts hubspot-contacts.csv --dry-run
      truce import contacts leads.csv --format salesforce --skip-invalid
      truce export touchpoints --format parquet && truce import touchpoints touchpoints.parquet
    """
    from truce.imports.service import ImportFailed, Options, import_file

    with handled():
        loaded, engine = config_and_store(config, db)
        options = Options(
            dialect=format.value if format else None,
            mapping=_read_mapping(mapping),
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            rejects_path=str(rejects) if rejects else None,
            day_first=day_first,
            actor=actor or os.environ.get("TRUCE_USER") or "cli",
        )
        try:
            with _file_progress(json, file) as advance:
                options.progress = advance
                report = import_file(engine, table.value.replace("-", "_"), file, loaded, options)
        except ImportFailed as failed:
            if json:
                print_json({**failed.report.as_dict(), "ok": False}, report="ImportReport")
                raise typer.Exit(1) from None
            fail(str(failed))
    if json:
        print_json({**report.as_dict(), "ok": True}, report="ImportReport")
        return
    _show_report(report)


def _file_progress(quiet: bool, file: Path):
    from contextlib import contextmanager

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    @contextmanager
    def bar():
        big = file.is_file() and file.stat().st_size > 5_000_000
        if quiet or not big:
            yield None
            return
        with Progress(
            TextColumn(f"importing {file.name}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=errors,
            transient=True,
        ) as progress:
            task = progress.add_task("import", total=file.stat().st_size)
            yield lambda done, total: progress.update(task, completed=done, total=total)

    return bar()


def _show_report(report) -> None:
    from truce.cli.common import counted

    # A dry run writes nothing, so it says what a real run would do, never "recorded".
    done = "would be {}" if report.dry_run else "{}"
    console.print(
        f"{report.file} ({report.dialect} dialect): read {counted(report.rows_read, 'row')} — "
        f"{report.inserted:,} new, {report.updated:,} updated, {report.unchanged:,} unchanged"
        + (f", {report.rejected:,} rejected" if report.rejected else "")
    )
    if report.dry_run:
        valid = report.rows_read - report.rejected
        console.print(f"[yellow]dry run[/]: {counted(valid, 'valid row')}; nothing written")
    if report.stage_changes_recorded:
        recorded = done.format("recorded in the ledger")
        console.print(f"{counted(report.stage_changes_recorded, 'stage change')} {recorded}")
    if report.accounts_created:
        console.print(f"{counted(report.accounts_created, 'account')} {done.format('created')} from company names")
    if report.contacts_rescored:
        entered = "would become MQLs and enter" if report.dry_run else "became MQLs and entered"
        console.print(
            f"{counted(report.contacts_rescored, 'contact')} {done.format('rescored')}; "
            f"{report.became_mql:,} {entered} the handoff queue"
        )
    if report.managed_columns:
        console.print(f"truce's own columns, kept by truce and not imported: {', '.join(report.managed_columns)}")
    if report.unknown_columns:
        console.print(f"[yellow]ignored columns[/] (map them with --mapping): {', '.join(report.unknown_columns)}")
    for warning, count in report.warnings.items():
        console.print(f"[yellow]warning[/]: {warning} ({counted(count, 'row')})")
    if report.rejects_file:
        console.print(
            f"[yellow]{counted(report.rejected, 'rejected row')}[/] written to {report.rejects_file}", soft_wrap=True
        )
        for error in report.errors[:10]:
            console.print(f"  {error}")


def export_command(
    table: Annotated[str, typer.Argument(help="A table name, e.g. contacts, stage_changes, audit_log.")],
    format: Annotated[ExportFormat, typer.Option("--format", help="csv or parquet.")] = ExportFormat.csv,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file. Default: TABLE.csv or TABLE.parquet.")
    ] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Write a table out as CSV or Parquet.

    CSV cells that a spreadsheet would run as a formula (=, +, -, @) are neutralised.

    Example:  truce export stage_changes --format parquet --out ledger.parquet
    """
    from truce.services.export import export_table, table_names

    name = table.replace("-", "_")
    if name not in table_names():
        fail(f"unknown table {table!r}; choose one of {', '.join(table_names())}")
    out = out or Path(f"{name}.{format.value}")
    with handled():
        engine = open_store(db)
        rows = export_table(engine, name, out, format.value)
    if json:
        print_json({"table": name, "format": format.value, "file": str(out), "rows": rows}, report="Exported")
    else:
        console.print(f"Wrote {rows:,} rows of {name} to {out}", soft_wrap=True)
