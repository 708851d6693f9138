"""`truce import`: load a CRM export into the shared database, all or nothing, idempotently.

The file is read as a stream, in batches. Every row is parsed, checked against the store
and against the rows before it, and then written inside one transaction. If any row is bad
the transaction is rolled back (unless --skip-invalid), so a failed import leaves nothing
behind; re-running an import updates records in place by id or email, never duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from truce.config import TruceConfig
from truce.imports import dialects
from truce.imports.csvfile import CsvStream, FileProblem, Row
from truce.imports.fields import REQUIRED, Reading, parsers
from truce.imports.rejects import write_rejects
from truce.imports.values import BadValue
from truce.store.models import AuditEntry, ImportRun

TABLES = tuple(dialects.TRUCE_FIELDS)
MAX_ERRORS_KEPT = 1000


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    kind: str  # validation, duplicate, not_found
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class Parsed:
    """One row on its way in: its line, the truce fields read from it, and where each came from."""

    row: Row
    values: dict
    headers: dict[str, str]  # truce field → the file's header, for error messages
    store: dict = field(default_factory=dict)  # the store columns the writer will set
    became: list[tuple[str, dt.datetime]] = field(default_factory=list)  # HubSpot "Became a … Date"
    history: list[tuple[str, dt.datetime]] = field(default_factory=list)  # dated moves, in order
    new_company: str | None = None  # a company name no account has yet
    match: object = None  # the stored row this record updates, if any

    @property
    def line(self) -> int:
        return self.row.line

    def error(self, field_name: str, kind: str, message: str) -> RowError:
        return RowError(self.line, self.headers.get(field_name, field_name), kind, message)


@dataclass
class ImportReport:
    table: str
    file: str
    dialect: str
    dry_run: bool = False
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    stage_changes_recorded: int = 0
    accounts_created: int = 0
    written: bool = False
    unknown_columns: list[str] = field(default_factory=list)
    warnings: Counter = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    rejects_file: str | None = None

    def as_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k not in ("errors", "warnings")}
        data["warnings"] = dict(self.warnings)
        data["errors"] = [
            {"line": e.line, "column": e.column, "kind": e.kind, "message": e.message} for e in self.errors
        ]
        return data


class ImportFailed(Exception):
    """Nothing was written; `report` says which rows are wrong and why."""

    def __init__(self, report: ImportReport, message: str):
        super().__init__(message)
        self.report = report


@dataclass
class Options:
    dialect: str | None = None
    mapping: dict[str, str] | None = None
    skip_invalid: bool = False
    dry_run: bool = False
    rejects_path: str | None = None
    day_first: bool = False
    actor: str = "import"
    batch_size: int = 5000
    progress: Callable[[int, int], None] | None = None


def _batches(rows, size: int):
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _parse(row: Row, plan: dialects.HeaderPlan, parse: dict, reading: Reading) -> tuple[Parsed, list[RowError]]:
    record = Parsed(row, {}, {})
    errors = []
    if row.extra_cells:
        errors.append(RowError(row.line, "", "validation", f"{row.extra_cells} more cells than the header has columns"))
    for header, name in plan.fields.items():
        cell = row.cells.get(header, "")
        if not cell.strip():
            continue
        record.headers[name] = header
        try:
            record.values[name] = parse[name](cell) if name in parse else cell.strip()
        except BadValue as exc:
            errors.append(RowError(row.line, header, "validation", str(exc)))
    for header, stage_name in plan.became.items():
        cell = row.cells.get(header, "")
        if cell.strip():
            try:
                record.became.append((stage_name, parse["changed_at"](cell)))
            except BadValue as exc:
                errors.append(RowError(row.line, header, "validation", str(exc)))
    return record, errors


def _missing_required(table: str, record: Parsed, plan: dialects.HeaderPlan) -> list[RowError]:
    errors = []
    for group in REQUIRED[table]:
        if not any(name in record.values or name in record.headers for name in group):
            names = [h for h, f in plan.fields.items() if f in group] or list(group)
            errors.append(RowError(record.line, names[0], "validation", "required value is missing"))
    return errors


def _check_header(table: str, path: Path, plan: dialects.HeaderPlan) -> None:
    present = set(plan.fields.values())
    for group in REQUIRED[table]:
        if not present & set(group):
            wanted = " or ".join(group)
            raise FileProblem(
                f"{path}: line 1: no column for {wanted} (read as the {plan.dialect} dialect; "
                "use --format to choose another or --mapping to name your columns)"
            )


def import_file(
    engine: Engine, table: str, path: str | Path, config: TruceConfig, options: Options | None = None
) -> ImportReport:
    from truce.imports.writers import WRITERS

    options = options or Options()
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    path = Path(path)
    with CsvStream(path) as stream:
        dialect = options.dialect or dialects.detect(stream.header, table)
        plan = dialects.plan(stream.header, table, dialect, options.mapping)
        _check_header(table, path, plan)
        report = ImportReport(table, str(path), dialect, dry_run=options.dry_run, unknown_columns=plan.unknown)
        reading = Reading(config, ZoneInfo(config.company.timezone), options.day_first)
        parse = parsers(reading)
        started = dt.datetime.now(dt.UTC)
        rejects: list[tuple[Row, list[RowError]]] = []
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                writer = WRITERS[table](conn, reading, dialect, report, started, options.actor)
                for batch in _batches(stream.rows(), options.batch_size):
                    parsed = []
                    for row in batch:
                        record, errors = _parse(row, plan, parse, reading)
                        errors += _missing_required(table, record, plan)
                        if errors:
                            _reject(report, rejects, row, errors, options.skip_invalid)
                        else:
                            parsed.append(record)
                    good, bad = writer.check(parsed)
                    for record, errors in sorted(bad, key=lambda pair: pair[0].line):
                        _reject(report, rejects, record.row, errors, options.skip_invalid)
                    report.rows_read += len(batch)
                    if good and not options.dry_run and (options.skip_invalid or not report.error_count):
                        writer.write(good)
                    if options.progress:
                        options.progress(stream.position, stream.size)
                report.errors.sort(key=lambda error: error.line)
                if report.error_count and not options.skip_invalid:
                    transaction.rollback()
                    raise ImportFailed(report, _failure_message(report, path))
                if options.dry_run:
                    transaction.rollback()
                else:
                    _record_run(conn, report, path, options.actor, started)
                    transaction.commit()
                    report.written = True
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                raise
    if rejects and options.skip_invalid:
        report.rejects_file = str(write_rejects(options.rejects_path or _rejects_name(path), stream.header, rejects))
    return report


def _reject(report: ImportReport, rejects: list, row: Row, errors: list[RowError], skipping: bool) -> None:
    report.rejected += 1
    report.error_count += len(errors)
    room = MAX_ERRORS_KEPT - len(report.errors)
    report.errors.extend(errors[: max(room, 0)])
    if skipping:
        rejects.append((row, errors))


def _rejects_name(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejects.csv")


def _failure_message(report: ImportReport, path: Path) -> str:
    first = "\n".join(f"  {path}: {error}" for error in report.errors[:20])
    more = report.error_count - min(len(report.errors), 20)
    tail = f"\n  … and {more} more" if more > 0 else ""
    return (
        f"{report.rejected} of {report.rows_read} rows are invalid; nothing was written.\n{first}{tail}\n"
        "Fix the file and run again, or use --skip-invalid to load the good rows and write the "
        "bad ones to a rejects file."
    )


def _record_run(conn, report: ImportReport, path: Path, actor: str, started: dt.datetime) -> None:
    finished = dt.datetime.now(dt.UTC)
    run = {
        "target_table": report.table,
        "file_name": str(path),
        "file_sha256": file_digest(path),
        "dialect": report.dialect,
        "actor": actor,
        "started_at": started,
        "finished_at": finished,
        "rows_read": report.rows_read,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": report.rejected,
    }
    run_id = conn.execute(insert(ImportRun).returning(ImportRun.id), run).scalar_one()
    summary = {
        k: run[k]
        for k in ("file_name", "file_sha256", "dialect", "rows_read", "inserted", "updated", "unchanged", "rejected")
    }
    conn.execute(
        insert(AuditEntry),
        {
            "at": finished,
            "actor": actor,
            "action": "import",
            "entity_type": report.table,
            "entity_id": run_id,
            "before": None,
            "after": summary,
        },
    )
