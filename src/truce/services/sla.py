"""Both sides' service levels: deadlines on each handoff, a sweep that records breaches once, and a report.

Sales promises a first touch within H business hours of the MQL and a decision within D;
marketing promises M MQLs a month with at least X % accepted. Each open handoff stores its
next deadline (`sla_due_at`). `sweep` finds the overdue ones and claims each with a
conditional update before recording anything, so two sweeps running at once never record a
breach twice; the unique (handoff, kind) key on sla_events backs that up in the database.
The breaches a sweep records are named in one audit entry, written in their transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Engine, and_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from truce.config import TruceConfig
from truce.services.connectors import writeback
from truce.store.models import Handoff, SlaEvent, Touchpoint
from truce.store.work import record, unit_of_work

HOUR = dt.timedelta(hours=1)
# Breaches are recorded per handoff, so they are sales'; marketing's promise is judged per month by the report.
BREACH_SIDE = "sales"


def open_handoff_of(conn: Connection, contact_id: int):
    """The lead's handoff still waiting for a decision, if any."""
    query = (
        select(Handoff).where(Handoff.contact_id == contact_id, Handoff.status == "open").order_by(Handoff.id.desc())
    )
    return conn.execute(query).mappings().first()


def deadlines(config: TruceConfig, mql_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(first touch due, decision due) for an MQL handed over at `mql_at`."""
    clock = config.business_hours.clock(config.company.timezone)
    promise = config.sla.sales
    return clock.add(mql_at, promise.first_touch_hours * HOUR), clock.add(mql_at, promise.decision_hours * HOUR)


def hours_left(clock, now: dt.datetime, due: dt.datetime) -> float:
    """Business hours until `due`; negative business hours since, once it has passed."""
    if due >= now:
        return round(clock.between(now, due) / HOUR, 2)
    return -round(clock.between(due, now) / HOUR, 2)


def first_sales_touch(conn: Connection, contact_id: int, since: dt.datetime) -> dt.datetime | None:
    return conn.execute(
        select(func.min(Touchpoint.occurred_at)).where(
            Touchpoint.contact_id == contact_id, Touchpoint.kind == "sales", Touchpoint.occurred_at >= since
        )
    ).scalar()


def record_breach(conn: Connection, handoff, kind: str, due: dt.datetime, now: dt.datetime, detail: str) -> int | None:
    """Append one breach; a second attempt for the same handoff and kind is a no-op. The new id, else None."""
    values = {
        "handoff_id": handoff["id"],
        "contact_id": handoff["contact_id"],
        "side": BREACH_SIDE,
        "kind": kind,
        "user_id": handoff["owner_id"],
        "due_at": due,
        "detected_at": now,
        "detail": detail,
    }
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        dialect_insert(SlaEvent)
        .values(values)
        .on_conflict_do_nothing(index_elements=["handoff_id", "kind"])
        .returning(SlaEvent.id)
    )
    return conn.execute(statement).scalar_one_or_none()


def first_touches(conn: Connection, handoff_ids: list[int]) -> dict[int, dt.datetime]:
    """The first sales touch after each handoff's MQL moment, for a whole batch in one query."""
    if not handoff_ids:
        return {}
    rows = conn.execute(
        select(Handoff.id, func.min(Touchpoint.occurred_at))
        .join(
            Touchpoint,
            and_(
                Touchpoint.contact_id == Handoff.contact_id,
                Touchpoint.kind == "sales",
                Touchpoint.occurred_at >= Handoff.mql_at,
            ),
        )
        .where(Handoff.id.in_(handoff_ids))
        .group_by(Handoff.id)
    ).all()
    return {handoff_id: as_utc(first) for handoff_id, first in rows}


def as_utc(value):
    if isinstance(value, str):  # SQLite returns aggregates of timestamps as text
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def _first_touch_verdict(handoff, touched, clock) -> tuple[dt.datetime | None, str | None]:
    """When sales first touched the lead, and why that broke the promise (None if it did not)."""
    due = handoff["first_touch_due_at"]
    if touched is None:
        return None, "no sales touch by the deadline"
    if touched > due:
        late = clock.between(due, touched) / HOUR
        return touched, f"first sales touch {touched.isoformat()}, {late:.1f} business hours late"
    return touched, None


def _next_deadline(handoff, first_touch_settled: bool, now: dt.datetime) -> dt.datetime | None:
    pending = []
    if not first_touch_settled:
        pending.append(handoff["first_touch_due_at"])
    if handoff["status"] == "open":
        pending.append(handoff["decision_due_at"])
    later = [d for d in pending if d > now]
    return min(later) if later else None


@dataclass(frozen=True)
class Judgement:
    breaches: list[tuple[str, dt.datetime, str]]  # (kind, due, detail)
    first_touch_at: dt.datetime | None
    next_due: dt.datetime | None


def judge(handoff, touched: dt.datetime | None, now: dt.datetime, clock) -> Judgement:
    """The deadlines of one handoff that have passed by `now`, judged. Pure: no database.

    `touched` is the first sales touch after the MQL (None if there was none).
    """
    breaches = []
    first_touch_at, settled = handoff["first_touch_at"], handoff["first_touch_at"] is not None
    if not settled and handoff["first_touch_due_at"] <= now:
        first_touch_at, problem = _first_touch_verdict(handoff, touched, clock)
        settled = True
        if problem:
            breaches.append(("first_touch_late", handoff["first_touch_due_at"], problem))
    if handoff["status"] == "open" and handoff["decision_due_at"] <= now:
        breaches.append(("decision_late", handoff["decision_due_at"], "no accept or reject by the deadline"))
    return Judgement(breaches, first_touch_at, _next_deadline(handoff, settled, now))


def _claim(conn, handoff, next_due, first_touch_at) -> bool:
    """Take this handoff for this sweep; False when another sweep got there first."""
    claimed = conn.execute(
        update(Handoff)
        .where(and_(Handoff.id == handoff["id"], Handoff.sla_due_at == handoff["sla_due_at"]))
        .values(sla_due_at=next_due, first_touch_at=first_touch_at, updated_at=dt.datetime.now(dt.UTC))
    )
    return claimed.rowcount == 1


def evaluate(conn: Connection, config: TruceConfig, handoff, now: dt.datetime, touched=...) -> list[dict]:
    """Judge one handoff whose deadline has passed, claim it, and record each breach once.

    `touched` is the first sales touch after the MQL if the caller fetched it for a batch.
    """
    if touched is ...:
        touched = first_sales_touch(conn, handoff["contact_id"], handoff["mql_at"])
    verdict = judge(handoff, touched, now, config.business_hours.clock(config.company.timezone))
    if not _claim(conn, handoff, verdict.next_due, verdict.first_touch_at):
        return []
    recorded = []
    for kind, due, detail in verdict.breaches:
        event_id = record_breach(conn, handoff, kind, due, now, detail)
        if event_id is not None:
            recorded.append(
                {
                    "id": event_id,
                    "handoff_id": handoff["id"],
                    "side": BREACH_SIDE,
                    "contact_id": handoff["contact_id"],
                    "kind": kind,
                    "owner_id": handoff["owner_id"],
                    "due_at": due,
                    "detail": detail,
                }
            )
    return recorded


def sweep(
    engine: Engine,
    config: TruceConfig,
    now: dt.datetime | None = None,
    batch: int = 1000,
    actor: str = "cli",
    origin: str = "cli",
) -> list[dict]:
    """Find handoffs whose next deadline has passed and record their breaches, exactly once each.

    Each batch is one transaction; a batch that judged a handoff (moved its next deadline, recorded
    its breaches) also writes one audit entry ("sla_sweep", in `actor`'s name) naming the breaches,
    so the breaches and their trail commit together; so do the `sla_breach` messages they owe
    (truce.services.sla_rules.breaches). A batch is claimed, judged and recorded with a handful of
    statements, not a few per handoff: a sweep after a long pause may find thousands.
    """
    from truce.services.sla_rules.breaches import owe_breaches

    now = now or dt.datetime.now(dt.UTC)
    clock = config.business_hours.clock(config.company.timezone)
    recorded: list[dict] = []
    while True:
        with unit_of_work(engine, actor, origin) as work:
            conn = work.conn
            due = (
                conn.execute(
                    select(Handoff)
                    .where(Handoff.sla_due_at.is_not(None), Handoff.sla_due_at <= now)
                    .order_by(Handoff.sla_due_at, Handoff.id)
                    .limit(batch)
                )
                .mappings()
                .all()
            )
            claimed = claim_due(conn, [h["id"] for h in due], now)
            mine = [h for h in due if h["id"] in claimed]
            touches = first_touches(conn, [h["id"] for h in mine])
            verdicts = [(h, judge(h, touches.get(h["id"]), now, clock)) for h in mine]
            settle(conn, verdicts)
            found = record_breaches(conn, verdicts, now)
            if work.data_tables:  # another sweep may have claimed every one of them first
                audit_sweep(conn, actor, now, found)
            owe_breaches(conn, found)
            writeback.owe_breaches(conn, config, found)
        recorded += found
        if len(due) < batch:
            return recorded


def claim_due(conn: Connection, ids: list[int], now: dt.datetime) -> set[int]:
    """Take these handoffs for this sweep in one statement; those another sweep judged first drop out.

    The claim empties `sla_due_at`; `settle` then sets each handoff's next deadline. On PostgreSQL a
    second sweep's claim waits for the first to commit, then finds the deadlines moved and takes none.
    """
    if not ids:
        return set()
    claimed = conn.execute(
        update(Handoff)
        .where(Handoff.id.in_(ids), Handoff.sla_due_at.is_not(None), Handoff.sla_due_at <= now)
        .values(sla_due_at=None)
        .returning(Handoff.id)
    )
    return set(claimed.scalars())


def insert_breaches(conn: Connection, rows: list[dict]) -> dict[tuple[int, str], int]:
    """Append sla_events rows in one executemany; {(handoff id, kind): new id} of those not there before."""
    if not rows:
        return {}
    if conn.dialect.name == "postgresql":
        return _insert_breaches_postgres(conn, rows)
    statement = (
        sqlite_insert(SlaEvent.__table__)
        .on_conflict_do_nothing(index_elements=["handoff_id", "kind"])
        .returning(SlaEvent.id, SlaEvent.handoff_id, SlaEvent.kind)
    )
    # A breach always names its handoff (the column is nullable for other kinds of event).
    return {(cast(int, handoff_id), kind): event_id for event_id, handoff_id, kind in conn.execute(statement, rows)}


BREACH_COLUMNS = {"handoff_id": "integer", "contact_id": "integer", "side": "text", "kind": "text",
                  "user_id": "integer", "due_at": "timestamptz", "detected_at": "timestamptz", "detail": "text"}  # fmt: skip


def _insert_breaches_postgres(conn: Connection, rows: list[dict]) -> dict[tuple[int, str], int]:
    """One short INSERT … SELECT FROM unnest(one array per column): a VALUES list of thousands of
    rows costs psycopg a second at 10,000 handoffs just to split the statement it sends."""
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in BREACH_COLUMNS.items())
    statement = text(
        f"INSERT INTO sla_events ({', '.join(BREACH_COLUMNS)}) SELECT * FROM unnest({arrays}) "
        "ON CONFLICT (handoff_id, kind) DO NOTHING RETURNING id, handoff_id, kind"
    )
    columns = {name: [row[name] for row in rows] for name in BREACH_COLUMNS}
    return {(handoff_id, kind): event_id for event_id, handoff_id, kind in conn.execute(statement, columns)}


def settle(conn: Connection, verdicts: list[tuple]) -> None:
    """Each claimed handoff's next deadline and first touch, as one executemany."""
    if not verdicts:
        return
    stamp = dt.datetime.now(dt.UTC)
    handoffs = Handoff.__table__  # the Core table: an ORM bulk update costs more per row than the write
    conn.execute(
        update(handoffs)
        .where(handoffs.c.id == bindparam("_id"))
        .values(sla_due_at=bindparam("_next"), first_touch_at=bindparam("_touched"), updated_at=stamp),
        [{"_id": h["id"], "_next": v.next_due, "_touched": v.first_touch_at} for h, v in verdicts],
    )


def record_breaches(conn: Connection, verdicts: list[tuple], now: dt.datetime) -> list[dict]:
    """Append every breach the verdicts found, once each (the unique (handoff, kind) skips repeats)."""
    rows = [
        {
            "handoff_id": h["id"],
            "contact_id": h["contact_id"],
            "side": BREACH_SIDE,
            "kind": kind,
            "user_id": h["owner_id"],
            "due_at": due,
            "detected_at": now,
            "detail": detail,
        }
        for h, verdict in verdicts
        for kind, due, detail in verdict.breaches
    ]
    inserted = insert_breaches(conn, rows)
    return [
        {
            "id": inserted[(row["handoff_id"], row["kind"])],
            "handoff_id": row["handoff_id"],
            "side": BREACH_SIDE,
            "contact_id": row["contact_id"],
            "kind": row["kind"],
            "owner_id": row["user_id"],
            "due_at": row["due_at"],
            "detail": row["detail"],
        }
        for row in rows
        if (row["handoff_id"], row["kind"]) in inserted
    ]


def audit_sweep(conn: Connection, actor: str, as_of: dt.datetime, breaches: list[dict]) -> None:
    """One audit entry for the breaches one sweep transaction recorded: counts, and which ones."""
    after = {
        "as_of": as_of.isoformat(),
        **breach_counts(breaches),
        "sla_event_id_ranges": id_ranges([b["id"] for b in breaches]),
        "handoff_id_ranges": id_ranges([b["handoff_id"] for b in breaches]),
    }
    write_audit(conn, actor, "sla_sweep", "sla_events", after)


def breach_counts(breaches: list[dict]) -> dict:
    """How many breaches, per side and per kind, for an audit entry."""
    return {
        "breaches_recorded": len(breaches),
        "breaches_by_side": dict(sorted(Counter(b["side"] for b in breaches).items())),
        "breaches_by_kind": dict(sorted(Counter(b["kind"] for b in breaches).items())),
    }


def write_audit(conn: Connection, actor: str, action: str, entity_type: str, after: dict) -> None:
    """An audit entry for a write that creates many records at once; `after` says which."""
    record(conn, action, entity_type, None, None, after, actor=actor, at=dt.datetime.now(dt.UTC))


def id_ranges(ids: list[int]) -> list[list[int]]:
    """[[first, last], …]: the ids as runs of consecutive numbers.

    A rebuild of the demo's history creates hundreds of thousands of rows with nearly
    consecutive ids; the runs name every one of them in a few numbers.
    """
    runs: list[list[int]] = []
    for record_id in sorted(set(ids)):
        if runs and record_id == runs[-1][1] + 1:
            runs[-1][1] = record_id
        else:
            runs.append([record_id, record_id])
    return runs


def record_and_tell(conn: Connection, config, handoff, kind: str, due: dt.datetime, detail: str) -> None:
    """A breach found at decision time, owed to the seller and the sales leaders like the sweep's."""
    from truce.services.sla_rules.breaches import owe_breaches  # rules build on this module

    event_id = record_breach(conn, handoff, kind, due, dt.datetime.now(dt.UTC), detail)
    if event_id is not None:
        breach = {"id": event_id, "handoff_id": handoff["id"], "contact_id": handoff["contact_id"], "kind": kind,
                  "owner_id": handoff["owner_id"], "detail": detail}  # fmt: skip
        owe_breaches(conn, [breach])
        writeback.owe_breaches(conn, config, [breach])


def after_decision(conn: Connection, config: TruceConfig, handoff, decided_at: dt.datetime) -> None:
    """A decision stops the decision clock; a late one is recorded at once, not at the next sweep."""
    if decided_at > handoff["decision_due_at"]:
        clock = config.business_hours.clock(config.company.timezone)
        late = clock.between(handoff["decision_due_at"], decided_at) / HOUR
        detail = f"decided {decided_at.isoformat()}, {late:.1f} business hours late"
        record_and_tell(conn, config, handoff, "decision_late", handoff["decision_due_at"], detail)
    settled = handoff["first_touch_at"] is not None
    pending = None if settled else handoff["first_touch_due_at"]
    conn.execute(update(Handoff).where(Handoff.id == handoff["id"]).values(sla_due_at=pending))


def check_attempts(conn: Connection, config: TruceConfig, contact_id: int, reason: str, at: dt.datetime) -> list[str]:
    """A rejection for no response promises enough attempts first; too few is a breach, not a refusal."""
    if reason != "no_response":
        return []
    promise = config.sla.sales
    handoff = open_handoff_of(conn, contact_id)
    if handoff is None:
        return []
    window_end = min(at, handoff["mql_at"] + dt.timedelta(days=promise.attempt_window_days))
    attempts = conn.execute(
        select(func.count()).where(
            Touchpoint.contact_id == contact_id,
            Touchpoint.kind == "sales",
            Touchpoint.occurred_at >= handoff["mql_at"],
            Touchpoint.occurred_at <= window_end,
        )
    ).scalar_one()
    conn.execute(update(Handoff).where(Handoff.id == handoff["id"]).values(attempts=attempts))
    if attempts >= promise.min_attempts:
        return []
    detail = f"rejected for no response after {attempts} of {promise.min_attempts} attempts"
    record_and_tell(conn, config, handoff, "too_few_attempts", at, detail)
    return [
        f"SLA breach recorded: {detail} (the SLA asks for {promise.min_attempts} within {promise.attempt_window_days} days)"
    ]
