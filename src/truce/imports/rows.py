"""Records that arrive as rows rather than a file (a CRM connector's pages): the file importer's path.

A connector turns each CRM record into a row of truce field names and text values, as a file's
cells would be, and hands a page of them here. From there on it is the file import: the same
header plan, the same parsers (read_batch), the same table writers with their checks, matching,
idempotent upserts, dated stage history and audit of every change. The one difference is what a
bad row does: a sync never stops for one record, so bad rows come back as rejects, named by
their CRM id, and the good rows of the page are written (a file import's --skip-invalid).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from truce.config import TruceConfig
from truce.imports import dialects
from truce.imports.batch import read_batch
from truce.imports.csvfile import RawBatch
from truce.imports.fields import REQUIRED, Reading, parsers
from truce.imports.service import ImportReport


@dataclass
class RowReject:
    crm_id: str
    reasons: list[str]


@dataclass
class RowsResult:
    report: ImportReport
    rejects: list[RowReject] = field(default_factory=list)


def import_rows(
    conn: Connection,
    table: str,
    dialect: str,
    rows: list[dict[str, str | None]],
    config: TruceConfig,
    *,
    actor: str,
    now: dt.datetime,
    source: str,
) -> RowsResult:
    """Check and write one page of rows inside the caller's unit of work; bad rows come back as rejects.

    `rows` are dicts of truce field names (TRUCE_FIELDS, or a dialect's extra fields such as a
    HubSpot contact's `lifecycle_stage`) to text, plus any "Became a … Date" columns; each row's
    `external_id` is its CRM id. `source` names where they came from in messages ("hubspot contacts").
    """
    from truce.imports.writers import WRITERS

    report = ImportReport(table, source, dialect)
    if not rows:
        return RowsResult(report)
    header = _header(rows)
    plan = dialects.plan(header, table, dialect, {name: name for name in header if not dialects.BECAME.match(name)})
    raw = RawBatch(0, {name: _column([row.get(name) for row in rows]) for name in header})
    reading = Reading(config, ZoneInfo(config.company.timezone))
    batch = read_batch(raw, plan, parsers(reading), REQUIRED[table])
    writer = WRITERS[table](conn, reading, dialect, report, now, actor)
    writer.check(batch)
    rejects, rows_of = [], {i: i + 1 for i in range(len(rows))}  # "same id as line N" names the page's row
    for index in sorted(batch.errors):
        errors = batch.errors[index]
        for error in errors:
            error.finish(rows_of)
        crm_id = rows[index].get("external_id") or f"row {index + 1}"
        rejects.append(RowReject(str(crm_id), [f"{e.column}: {e.message}" if e.column else e.message for e in errors]))
        report.rejected += 1
        report.error_count += len(errors)
    report.rows_read = len(rows)
    writer.write(batch)
    report.written = True
    return RowsResult(report, rejects)


def _header(rows: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for name in row:
            seen.setdefault(name, None)
    return list(seen)


def _column(values: list) -> pa.Array:
    """One field's cells as Arrow text; a missing value is a blank cell, as in a file."""
    try:  # the common case: the connector gave text (or nothing) for every row
        return pc.fill_null(pa.array(values, pa.string()), "")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([_text(value) for value in values], pa.string())


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
