"""`truce import`: load a CRM export into the shared database, all or nothing, idempotently.

The file is read as a stream, in batches held as columns (imports/batch.py). Every row is
parsed, checked against the store and against the rows before it, and written inside one
transaction. If any row is bad
the transaction is rolled back (unless --skip-invalid), so a failed import leaves nothing
behind; re-running an import updates records in place by id or email, never duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from truce.config import TruceConfig, value_key
from truce.imports import dialects
from truce.imports.batch import RowError, read_batch
from truce.imports.csvfile import CsvFile, FileProblem
from truce.imports.fields import REQUIRED, Reading, parsers
from truce.imports.rejects import write_rejects
from truce.store.models import AuditEntry, ImportRun

TABLES = tuple(dialects.TRUCE_FIELDS)
MAX_ERRORS_KEPT = 1000


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
    contacts_rescored: int = 0
    became_mql: int = 0  # inquiries whose new touches lifted their score over the threshold
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
    batch_size: int = 20_000
    progress: Callable[[int, int], None] | None = None


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_header(table: str, path: Path, plan: dialects.HeaderPlan) -> None:
    spelled: dict[str, str] = {}
    for header in plan.fields:  # headers match without regard to case or punctuation, so these collide
        first = spelled.setdefault(value_key(header), header)
        if first != header:
            raise FileProblem(
                f"{path}: line 1: columns {first!r} and {header!r} both mean {plan.fields[header]}; keep one"
            )
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
    source = CsvFile(path)
    dialect = options.dialect or dialects.detect(source.header, table)
    plan = dialects.plan(source.header, table, dialect, options.mapping)
    _check_header(table, path, plan)
    report = ImportReport(table, str(path), dialect, dry_run=options.dry_run, unknown_columns=plan.unknown)
    reading = Reading(config, ZoneInfo(config.company.timezone), options.day_first)
    parse = parsers(reading)
    started = dt.datetime.now(dt.UTC)
    rejects: list[tuple[int, dict, list[RowError]]] = []
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            writer = WRITERS[table](conn, reading, dialect, report, started, options.actor)
            for raw in source.batches(options.batch_size):
                batch = read_batch(raw, plan, parse, REQUIRED[table])
                writer.check(batch)
                for index in sorted(batch.errors):
                    _reject(report, rejects, raw.first_record + index, raw.cells(index), batch.errors[index], options)
                report.rows_read += batch.size
                if options.skip_invalid or not report.error_count:
                    writer.write(batch)  # a dry run writes too, to count what it would do, then rolls back
                if options.progress:
                    options.progress(source.position, source.size)
            _malformed(source, report, rejects, options)
            if report.error_count:
                _finish_lines(source, report, rejects)
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
        target = options.rejects_path or _rejects_name(path)
        report.rejects_file = str(write_rejects(target, source.header, rejects))
    return report


def _reject(
    report: ImportReport, rejects: list, record: int, cells: dict, errors: list[RowError], options: Options
) -> None:
    report.rejected += 1
    report.error_count += len(errors)
    room = MAX_ERRORS_KEPT - len(report.errors)
    report.errors.extend(errors[: max(room, 0)])
    if options.skip_invalid:
        rejects.append((record, cells, errors))


def _malformed(source: CsvFile, report: ImportReport, rejects: list, options: Options) -> None:
    """Rows with more or fewer cells than the header: Arrow skipped them; report each by line."""
    if not source.malformed:
        return
    for line, problem, cells in source.malformed_lines():
        error = RowError(-line, "", "validation", problem, line=line)
        report.rows_read += 1
        _reject(report, rejects, -line, cells, [error], options)


def _finish_lines(source: CsvFile, report: ImportReport, rejects: list) -> None:
    """Turn record numbers into the lines a person sees in an editor (one pass over the file)."""
    wanted = {e.record for e in report.errors if e.record >= 0} | {
        e.refers_to for e in report.errors if e.refers_to is not None
    }
    wanted |= {record for record, _, _ in rejects if record >= 0}
    lines = source.locate(wanted)
    for error in report.errors:
        error.finish(lines)
    for _record, _, errors in rejects:
        for error in errors:
            error.finish(lines)
    report.errors.sort(key=lambda error: error.line or 0)
    rejects.sort(key=lambda reject: reject[2][0].line or 0)


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
