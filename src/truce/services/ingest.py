"""Batches of touchpoints and stage changes pushed by other systems, under the import's rules.

Each batch goes through the very writers `truce import touchpoints` and `truce import
stage-changes` use (truce.imports.writers), with truce's own column names, so the same
checks, references, rescoring and funnel rules apply. The differences are those of a
request rather than a file:

- all or nothing: one bad item and nothing is written; every problem is reported with the
  item's position and field;
- idempotent by external id: the same items again change nothing (and leave no trace);
- the ledger rows it appends say origin "api";
- a batch that changed something is recorded as an import run with an audit entry;
- stage changes are live decisions, not history: a lead enters the funnel at an entry stage; a
  move out of the handoff stage is a decision, refused unless its named changer may decide that
  lead (truce.services.handoff.may_decide), and it closes the lead's handoff; a move into the
  handoff stage opens one, routed like any other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from truce.config import TruceConfig
from truce.imports import dialects
from truce.imports.batch import read_batch
from truce.imports.csvfile import RawBatch
from truce.imports.fields import REQUIRED, Reading, parsers
from truce.imports.service import ImportReport
from truce.imports.writers import WRITERS
from truce.imports.writers.ledger import ID_CHUNK, StageChangeWriter
from truce.store.models import Contact, ImportRun, User
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
    history = False

    def new_columns(self, batch, new):
        columns = super().new_columns(batch, new)
        columns["origin"] = ["api"] * len(new)
        return columns

    def stages_before_any_move(self, contact_ids: set[int]) -> dict[int, str]:
        """A live event moves a lead from where it stood: before its first move on record, or, with
        no move on record, where it stands now (a contact created or imported without history)."""
        from truce.imports.writers.ledger import LEDGER

        found: dict[int, str] = {}
        ordered = sorted(contact_ids)
        for start in range(0, len(ordered), ID_CHUNK):
            chunk = ordered[start : start + ID_CHUNK]
            found.update(self.conn.execute(select(Contact.id, Contact.stage).where(Contact.id.in_(chunk))).all())
            first = (
                select(LEDGER.c.entity_id, LEDGER.c.from_stage)
                .where(LEDGER.c.entity_type == "contact", LEDGER.c.entity_id.in_(chunk))
                .order_by(LEDGER.c.entity_id, LEDGER.c.changed_at.desc(), LEDGER.c.id.desc())
            )
            found.update(self.conn.execute(first).all())  # the earliest move comes last, and wins
        return {contact_id: stage for contact_id, stage in found.items() if stage is not None}

    def check_matches(self, batch):
        super().check_matches(batch)
        self._deciders(batch)

    def _deciders(self, batch) -> None:
        """A move out of the handoff stage is sales' decision: only by someone who may decide that lead."""
        from truce.services.handoff import NotYours, may_decide

        stage = self.config.funnel.handoff_stage
        kinds, ids = batch.store["entity_type"], batch.column("entity_id")
        froms, tos, by = batch.store["from_stage"], batch.store["to_stage"], batch.column("changed_by_id")
        for i in batch.good():
            if batch.match[i] is not None or kinds[i] != "contact" or froms[i] != stage or tos[i] == stage:
                continue
            problem = self._may_not_decide(by[i], ids[i], may_decide, NotYours)
            if problem:
                batch.fail(i, "changed_by_email", "permission", problem)

    def _may_not_decide(self, user_id, contact_id, may_decide, not_yours) -> str | None:
        if user_id is None:
            return "a move out of the handoff stage is a decision: name the seller who made it (changed_by_email)"
        decider = self.conn.execute(select(User).where(User.id == user_id)).mappings().one()
        if decider["team"] != "sales" or not decider["active"]:
            return f"only active sales users decide handoffs; {decider['email']} is on the {decider['team']} team"
        contact = self.conn.execute(select(Contact).where(Contact.id == contact_id)).mappings().one()
        try:
            may_decide(self.conn, decider, contact)
        except not_yours as exc:
            return str(exc)
        return None

    def follow_handoffs(self, moved):
        """Also: a lead that arrived in the handoff stage enters the queue now, routed to a seller."""
        from truce.services import handoff, sla

        super().follow_handoffs(moved)
        stage = self.config.funnel.handoff_stage
        for contact_id, before, after in moved:
            if after == stage and before != stage and sla.open_handoff_of(self.conn, contact_id) is None:
                handoff.open_handoff(self.conn, self.config, contact_id, self._latest_move(contact_id).changed_at)


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
