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
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from truce.config import TruceConfig, value_key
from truce.imports import dialects
from truce.imports.batch import RowError, read_batch
from truce.imports.csvfile import CsvFile, FileProblem
from truce.imports.fields import REQUIRED, Reading, parsers
from truce.imports.parquetfile import ParquetFile, is_parquet
from truce.imports.rejects import write_rejects
from truce.store import bulk
from truce.store.models import ImportRun
from truce.store.work import make_way, unit_of_work, waiting_writers

TABLES = tuple(dialects.TRUCE_FIELDS)
Source = CsvFile | ParquetFile  # what an import reads: the same batches from either
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
    # Columns of a truce export that truce keeps itself (ids, stamps, CRM links): read, not imported.
    managed_columns: dict[str, str] = field(default_factory=dict)
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
    # Rows per batch: about half a second of work for touchpoints, the longest a seller's click
    # should wait behind an import; between two batches a waiting writer goes first.
    batch_size: int = 5_000
    # Alone, a long import commits at least this often: a crash loses at most this much work.
    commit_seconds: float = 1.0
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
    """Load `path` into `table`: every row checked first, then written batch by batch.

    A file that fits in one batch is checked and written in one unit of work. A longer one is
    first checked whole against the store, writing nothing (so a bad row anywhere leaves the
    store untouched), then written one batch per unit of work, each with its audit entry; between
    batches, writers waiting for the store go first (truce.store.work.make_way), so a seller's
    click never waits for the whole import. With --skip-invalid there is no first pass: good rows
    go in, bad ones to the rejects file.
    """
    options = options or Options()
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
    path = Path(path)
    source = _open(path)
    dialect = options.dialect or dialects.detect(source.header, table)
    plan = dialects.plan(source.header, table, dialect, options.mapping)
    _check_header(table, path, plan)
    job = _Job(engine, table, path, config, options, dialect, plan)
    batches = source.batches(options.batch_size)
    ahead = [raw for raw in (next(batches, None), next(batches, None)) if raw is not None]
    if len(ahead) < 2 or options.skip_invalid:
        return job.write(source, chain(ahead, batches), passes=1)
    job.check(source, chain(ahead, batches))
    again = _open(path)
    return job.write(again, again.batches(options.batch_size), passes=2)


class _Slot:
    """The connection of the batch being written. Writers and their caches keep this one object
    for the whole file; each batch puts its own unit of work's connection in it."""

    def __init__(self, conn=None):
        self.current = conn

    def __getattr__(self, name):
        return getattr(self.current, name)


@dataclass
class _Job:
    engine: Engine
    table: str
    path: Path
    config: TruceConfig
    options: Options
    dialect: str
    plan: dialects.HeaderPlan
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self):
        self.reading = Reading(self.config, ZoneInfo(self.config.company.timezone), self.options.day_first)
        self.parse = parsers(self.reading)

    def _report(self) -> ImportReport:
        return ImportReport(
            self.table, str(self.path), self.dialect, dry_run=self.options.dry_run,
            unknown_columns=self.plan.unknown,
            managed_columns=self.plan.managed,
        )

    def _writer(self, conn, report: ImportReport):
        from truce.imports.writers import WRITERS

        return WRITERS[self.table](conn, self.reading, self.dialect, report, self.started, self.options.actor)

    def _progress(self, source: Source, passes: int, done_passes: int) -> None:
        if self.options.progress:
            self.options.progress(done_passes * source.size + source.position, passes * source.size)

    def check(self, source: Source, batches: Iterable) -> None:
        """The first pass over a long file: every row checked against the store, nothing written.

        Raises ImportFailed when any row is bad: the store is as it was.
        """
        report = self._report()
        rejects: list[tuple[int, dict, list[RowError]]] = []
        with self.engine.connect() as conn, bulk.roomy_cache(conn):
            writer = self._writer(conn, report)
            writer.checking_only = True
            for raw in batches:
                batch = read_batch(raw, self.plan, self.parse, REQUIRED[self.table])
                writer.check(batch)
                for index in sorted(batch.errors):
                    _reject(report, rejects, raw.first_record + index, raw.cells(index), batch.errors[index], self.options)
                report.rows_read += batch.size
                self._progress(source, 2, 0)
        _malformed(source, report, rejects, self.options)
        if report.error_count:
            _finish_lines(source, report, rejects)
            raise ImportFailed(report, _failure_message(report, self.path))

    def write(self, source: Source, batches: Iterable, passes: int) -> ImportReport:
        """Write the batches, the run recorded with the last.

        Batches share one unit of work until someone else is waiting to write, or it has been open
        `commit_seconds`: then it commits, with an audit entry naming the records it holds, and
        the waiting writers go first. Alone, a long import commits about once a second.
        """
        report, slot, writer = self._report(), _Slot(), None
        rejects: list[tuple[int, dict, list[RowError]]] = []
        self.committed = 0  # rows read in the parts already committed
        with ExitStack() as held:
            work = None
            for raw, last in _with_last(batches):
                if work is None:
                    work = held.enter_context(unit_of_work(self.engine, self.options.actor, "import", announce=False))
                    held.enter_context(bulk.roomy_cache(work.conn))
                    slot.current, opened, part = work.conn, time.monotonic(), _Part(raw.first_record, report)
                writer = writer or self._writer(slot, report)
                batch = read_batch(raw, self.plan, self.parse, REQUIRED[self.table])
                writer.check(batch)
                for index in sorted(batch.errors):
                    _reject(report, rejects, raw.first_record + index, raw.cells(index), batch.errors[index], self.options)
                report.rows_read += batch.size
                if last:  # the reader has seen every line now, the malformed ones too
                    _malformed(source, report, rejects, self.options)
                if report.error_count and not self.options.skip_invalid:
                    self._refuse(source, report, rejects)  # rolls back the part not yet committed
                writer.write(batch)
                if last:
                    self._finish(source, report, rejects, work)
                elif waiting_writers(self.engine) or time.monotonic() - opened >= self.options.commit_seconds:
                    self._commit_part(work, part, raw, report)
                    held.close()
                    work = None
                    self.committed = report.rows_read
                    make_way(self.engine)
                self._progress(source, passes, passes - 1)
        if writer is None:  # an empty file: nothing read, the run is still on record
            with unit_of_work(self.engine, self.options.actor, "import") as work:
                _malformed(source, report, rejects, self.options)
                self._finish(source, report, rejects, work)
        if rejects and self.options.skip_invalid:
            target = self.options.rejects_path or _rejects_name(self.path)
            report.rejects_file = str(write_rejects(target, source.header, rejects))
        return report

    def _commit_part(self, work, part: _Part, raw, report: ImportReport) -> None:
        """What a part of a long import leaves in the trail: the records it holds and its counts."""
        if self.options.dry_run:
            work.discard()
        elif work.data_tables:
            work.record("import_batch", self.table, None, None, part.summary(self.path, raw, report))

    def _finish(self, source: Source, report: ImportReport, rejects: list, work) -> None:
        if report.error_count:
            _finish_lines(source, report, rejects)
        if report.error_count and not self.options.skip_invalid:
            raise ImportFailed(report, _failure_message(report, self.path))
        if self.options.dry_run:
            work.discard()
            return
        _record_run(work, report, self.path, self.options.actor, self.started)
        report.written = True

    def _refuse(self, source: Source, report: ImportReport, rejects: list) -> None:
        """A bad row found while writing: the first pass found none, so another writer changed the
        store in between. The batches before this one are in; this one and the rest are not."""
        _finish_lines(source, report, rejects)
        committed = self.committed
        message = _failure_message(report, self.path)
        if committed:
            message = (
                f"{message}\nThe store changed while this file was being written (another write touched the same "
                f"records): the first {committed:,} rows are in, nothing after them. Running the same import again "
                "is safe: rows already in are left as they are."
            )
            report.written = True
        raise ImportFailed(report, message)

class _Part:
    """The batches of a long import that one unit of work holds: where they start, and the counts then."""

    def __init__(self, first_record: int, report: ImportReport):
        self.first_record = first_record
        self.before = (report.inserted, report.updated, report.unchanged, report.rejected)

    def summary(self, path: Path, last_raw, report: ImportReport) -> dict:
        inserted, updated, unchanged, rejected = self.before
        return {
            "file_name": str(path),
            "records": [self.first_record + 1, last_raw.first_record + last_raw.size],
            "inserted": report.inserted - inserted,
            "updated": report.updated - updated,
            "unchanged": report.unchanged - unchanged,
            "rejected": report.rejected - rejected,
        }


def _with_last(items) -> Iterator[tuple]:
    """(item, whether it is the last one)."""
    items = iter(items)
    current = next(items, _END)
    while current is not _END:
        following = next(items, _END)
        yield current, following is _END
        current = following


_END = object()


def _reject(
    report: ImportReport, rejects: list, record: int, cells: dict, errors: list[RowError], options: Options
) -> None:
    report.rejected += 1
    report.error_count += len(errors)
    room = MAX_ERRORS_KEPT - len(report.errors)
    report.errors.extend(errors[: max(room, 0)])
    if options.skip_invalid:
        rejects.append((record, cells, errors))


def _open(path: Path) -> Source:
    """A CSV export, or a Parquet file such as `truce export --format parquet` writes."""
    return ParquetFile(path) if is_parquet(path) else CsvFile(path)


def _malformed(source: Source, report: ImportReport, rejects: list, options: Options) -> None:
    """Rows with more or fewer cells than the header: Arrow skipped them; report each by line."""
    if not source.malformed:
        return
    for line, problem, cells in source.malformed_lines():
        error = RowError(-line, "", "validation", problem, line=line)
        report.rows_read += 1
        _reject(report, rejects, -line, cells, [error], options)


def _finish_lines(source: Source, report: ImportReport, rejects: list) -> None:
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


def _record_run(work, report: ImportReport, path: Path, actor: str, started: dt.datetime) -> None:
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
    run_id = work.conn.execute(insert(ImportRun).returning(ImportRun.id), run).scalar_one()
    summary = {
        k: run[k]
        for k in ("file_name", "file_sha256", "dialect", "rows_read", "inserted", "updated", "unchanged", "rejected")
    }
    work.record("import", report.table, run_id, None, summary, actor=actor, at=finished)
