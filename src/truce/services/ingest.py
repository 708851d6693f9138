"""Batches of touchpoints and stage changes pushed by other systems, under the import's rules.

Each batch goes through the very writers `truce import touchpoints` and `truce import
stage-changes` use (truce.imports.writers), with truce's own column names, so the same
checks, references, rescoring and funnel rules apply. The differences are those of a
request rather than a file:

- all or nothing: one bad item and nothing is written; every problem is reported with the
  item's position and field;
- idempotent by external id: the same items again change nothing (and leave no trace);
- the ledger rows it appends say origin "api";
- a batch that changed something is recorded as an import run with an audit entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from truce.config import TruceConfig
from truce.imports import dialects
from truce.imports.batch import read_batch
from truce.imports.csvfile import RawBatch
from truce.imports.fields import REQUIRED, Reading, parsers
from truce.imports.service import ImportReport
from truce.imports.writers import WRITERS
from truce.imports.writers.ledger import StageChangeWriter
from truce.store.models import ImportRun
from truce.store.work import record, unit_of_work

TABLES = ("touchpoints", "stage_changes")
MAX_ITEMS = 10_000
PROBLEMS_KEPT = 1000


@dataclass(frozen=True)
class Problem:
    item: int  # position in the batch, from 0
    field: str
    kind: str  # validation, duplicate, not_found
    message: str


class IngestRejected(ValueError):
    """Nothing was written: `problems` lists what is wrong with which item (the first PROBLEMS_KEPT)."""

    def __init__(self, problems: list[Problem], count: int, items: int, message: str | None = None):
        bad = len({p.item for p in problems})
        super().__init__(message or f"{bad} of {items} items are invalid ({count} problems); nothing was written")
        self.problems, self.count = problems, count


class IngestConflict(ValueError):
    """Another write took an external id between our check and our insert; send the batch again."""


class _ApiStageChanges(StageChangeWriter):
    def new_columns(self, batch, new):
        columns = super().new_columns(batch, new)
        columns["origin"] = ["api"] * len(new)
        return columns


def ingest(engine: Engine, config: TruceConfig, table: str, items: list[dict], actor: str) -> dict:
    """Write a batch of items ({truce import column: text or None}); counts of what changed."""
    if table not in TABLES:
        raise ValueError(f"cannot ingest {table!r}; choose one of {', '.join(TABLES)}")
    if len(items) > MAX_ITEMS:
        too_many = f"at most {MAX_ITEMS:,} items per request, not {len(items):,}; nothing was written"
        raise IngestRejected([], 0, len(items), too_many)
    report = ImportReport(table, "api", "truce")
    if not items:
        return _counts(report, 0)
    fields = [name for name in dialects.TRUCE_FIELDS[table] if any(item.get(name) is not None for item in items)]
    raw = RawBatch(0, {name: pa.array([_cell(item.get(name)) for item in items], pa.string()) for name in fields})
    reading = Reading(config, ZoneInfo(config.company.timezone))
    plan = dialects.plan(fields, table, "truce")
    started = dt.datetime.now(dt.UTC)
    try:
        with unit_of_work(engine, actor, "api") as work:
            conn = work.conn
            writer = (_ApiStageChanges if table == "stage_changes" else WRITERS[table])(
                conn, reading, "truce", report, started, actor
            )
            batch = read_batch(raw, plan, parsers(reading), REQUIRED[table])
            writer.check(batch)
            if batch.errors:
                raise _rejected(batch.errors, len(items))
            writer.write(batch)
            if report.inserted or report.updated:
                _record_run(conn, report, items, actor, started)
    except IntegrityError as exc:
        raise IngestConflict(
            f"another write changed these records at the same time; send the batch again ({exc.orig})"
        ) from None
    return _counts(report, len(items))


def _cell(value) -> str:
    return "" if value is None else str(value)


def _rejected(errors: dict, items: int) -> IngestRejected:
    problems = []
    for index in sorted(errors):
        for error in errors[index]:
            message = error.message
            if error.refers_to is not None:
                message = message.replace("line {line}", f"item {error.refers_to}").replace(
                    "{line}", str(error.refers_to)
                )
            problems.append(Problem(error.record, error.column, error.kind, message))
    return IngestRejected(problems[:PROBLEMS_KEPT], len(problems), items)


def _record_run(conn, report: ImportReport, items: list[dict], actor: str, started: dt.datetime) -> None:
    finished = dt.datetime.now(dt.UTC)
    digest = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()
    run = {
        "target_table": report.table,
        "file_name": f"api: {len(items)} items",
        "file_sha256": digest,
        "dialect": "truce",
        "actor": actor,
        "started_at": started,
        "finished_at": finished,
        "rows_read": len(items),
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": 0,
    }
    run_id = conn.execute(insert(ImportRun).returning(ImportRun.id), run).scalar_one()
    summary = {k: run[k] for k in ("file_sha256", "rows_read", "inserted", "updated", "unchanged")}
    record(conn, "ingest", report.table, run_id, None, summary, actor=actor, at=finished)


def _counts(report: ImportReport, items: int) -> dict:
    return {
        "items": items,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "contacts_rescored": report.contacts_rescored,
        "became_mql": report.became_mql,
        "warnings": dict(report.warnings),
    }
