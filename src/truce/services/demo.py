"""The demo company: build it into a fresh database, and summarise what is in a store."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import Engine, func, inspect, or_, select

from truce.store import bulk, db
from truce.store.models import AuditEntry, Base, Contact, Opportunity, StageChange, Touchpoint, User
from truce.store.work import unit_of_work

# Parents before children, so foreign keys hold at every step.
LOAD_ORDER = (
    "users",
    "accounts",
    "campaigns",
    "contacts",
    "opportunities",
    "touchpoints",
    "stage_changes",
    "feedback_items",
    "targets",
)
DEMO_UNTIL = dt.date(2026, 11, 20)
# Whom the demo's audit entries name, and the origin of the stage moves it generates.
DEMO = "demo"


class NotEmpty(RuntimeError):
    """The demo refuses to mix itself into a database that already holds records."""


def holds_records(engine: Engine) -> bool:
    if "contacts" not in inspect(engine).get_table_names():
        return False
    with engine.connect() as conn:
        return any(
            conn.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar_one()
            for name in LOAD_ORDER
        )


# Writers that are truce itself at work on whatever the store holds: the scheduler and its jobs.
MACHINE_ACTORS = ("scheduler", "notify")
MACHINE_ACTOR_PREFIXES = ("job:", "truce:")
# Stage moves truce makes by its own rules (a score crossing the line, an SLA escalation).
MACHINE_ORIGINS = ("rule", "job")


def others_history(engine: Engine) -> tuple[int, int]:
    """(audit entries, stage-ledger rows) that are not the demo's own.

    The demo's own: what it wrote (actor "demo", origin "demo"); what truce's scheduled jobs did
    to it while `truce demo --serve` ran; and what the demo's logins did in the web app. Those
    users' addresses are at the demo's made-up domain (.example is reserved: no real person has
    one). Anything else (an import, an API push, a real user's click) is someone's history.
    """
    from truce.demo.tables import USER_DOMAIN

    at_demo = f"%@{USER_DOMAIN}"
    demo_users = select(User.id).where(User.email.like(at_demo))
    machine = or_(
        AuditEntry.actor.in_(MACHINE_ACTORS), *(AuditEntry.actor.startswith(p) for p in MACHINE_ACTOR_PREFIXES)
    )
    return db.history_rows(
        engine,
        audit_where=(AuditEntry.actor != DEMO, ~machine, ~AuditEntry.actor.like(at_demo)),
        ledger_where=(
            StageChange.origin != DEMO,
            ~(StageChange.changed_by_id.is_(None) & StageChange.origin.in_(MACHINE_ORIGINS)),
            or_(StageChange.changed_by_id.is_(None), StageChange.changed_by_id.not_in(demo_users)),
        ),
    )


def reset(engine: Engine, *, discard_history: bool = False) -> None:
    """Drop every table truce created, so the demo starts from a fresh schema.

    The demo's own trail and ledger go with it (see `others_history`: what the demo wrote, what
    truce's jobs and the demo's logins did to it). History anyone else wrote (an import, an API
    push, a real user's move, even on the demo's records) is kept: the reset refuses with
    HistoryAtStake, changing nothing, unless `discard_history`.
    """
    if not discard_history:
        audit_entries, ledger_rows = others_history(engine)
        if audit_entries or ledger_rows:
            raise db.HistoryAtStake(
                f"{db.describe(str(engine.url))} holds history the demo did not write: "
                f"{db.plural(audit_entries, 'audit entry', 'audit entries')} not by {DEMO!r} and "
                f"{db.plural(ledger_rows, 'stage-ledger row', 'stage-ledger rows')} not of origin {DEMO!r} "
                "(nor by truce's jobs or the demo's logins); "
                "replacing the store would drop them; nothing was changed",
                audit_entries,
                ledger_rows,
            )
    db.drop_every_table(engine)


def build(
    engine: Engine,
    contacts: int = 5000,
    seed: int = 7,
    until: dt.date = DEMO_UNTIL,
    progress: Callable[[str, int, int], None] | None = None,
    actor: str = DEMO,
    config=None,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Generate the demo company and load it; returns rows written per table.

    The history ends at `now` (`truce demo` passes the real clock, so the queue is alive on the
    day it is built), or at midnight UTC on `until` when `now` is not given (tests: a fixed day).
    The handoffs and SLA breaches are then derived from the demo's stage history with the given
    truce.toml as of that moment, exactly as for imported history; then the company's alignment
    work is added: two survey rounds, joint plans for the key accounts and a past meeting's decisions.
    """
    from truce import config as truce_config
    from truce.demo.alignment import alignment_rows
    from truce.demo.generator import generate
    from truce.services import handoff_history

    config = config or truce_config.load()
    as_of = _as_of(now, until)
    db.upgrade(engine)
    if holds_records(engine):
        raise NotEmpty(f"{db.describe(str(engine.url))} already holds records; use --force to replace them")
    company = generate(contacts=contacts, seed=seed, until=as_of, progress=progress, rules=config)
    total = sum(company.tables[name].num_rows for name in LOAD_ORDER)
    written, done = {}, 0
    with unit_of_work(engine, actor, "demo") as work:
        conn = work.conn
        with bulk.indexes_built_after(conn, list(LOAD_ORDER)):  # the store was checked empty above
            for name in LOAD_ORDER:
                table = company.tables[name]

                def advance(rows: int, _name=name) -> None:
                    nonlocal done
                    done += rows
                    if progress:
                        progress(f"loading {_name}", done, total)

                bulk.load(conn, name, table, advance)
                written[name] = table.num_rows
        after = {"contacts": contacts, "seed": seed, "until": as_of.isoformat(), "rows": written}
        work.record("demo_build", "database", None, None, after)
    if progress:
        progress("handoffs and SLAs", 0, 1)
    rebuilt = handoff_history.rebuild(engine, config, as_of, actor=actor)
    written["handoffs"] = rebuilt["handoffs_created"]
    if progress:
        progress("handoffs and SLAs", 1, 1)
    written |= _add_alignment(engine, alignment_rows(company, config, as_of, seed, _measurer(engine, config)), actor)
    return written


def _measurer(engine: Engine, config):
    """Indicators over the days before a moment, as a decision or an initiative made then records them."""
    from truce.services.meetings.common import measure, today_in, window_before

    def measured(keys: list[str], days: int, at: dt.datetime) -> dict:
        return measure(engine, config, keys, window_before(today_in(config, at), days), at)

    return measured


def _as_of(now: dt.datetime | None, until: dt.date) -> dt.datetime:
    if now is None:
        return dt.datetime.combine(until, dt.time(0), tzinfo=dt.UTC)
    if now.tzinfo is None:
        raise ValueError("the demo needs an aware `now`; a naive time has no zone")
    # Whole seconds: the generator's clock has no finer grain, and the rebuild must judge the same moment.
    return now.astimezone(dt.UTC).replace(microsecond=0)


# Which columns of a table name a row made in the same write, and the table that row is in.
REFERENCES = {
    "survey_responses": {"round_id": "survey_rounds"},
    "meeting_attendees": {"meeting_id": "meetings"},
    "meeting_agenda_items": {"meeting_id": "meetings"},
    "decisions": {"meeting_id": "meetings", "agenda_item_id": "meeting_agenda_items"},
}


def _add_alignment(engine: Engine, rows: dict[str, list[dict]], actor: str) -> dict[str, int]:
    """The survey answers, account plans and meeting the demo made up, in one audited write.

    Parents are written one by one for their ids (a sequence the demo set by hand would
    collide with the next id PostgreSQL hands out); children in one batch per table.
    """
    ids: dict[str, list[int]] = {}
    with unit_of_work(engine, actor, "demo") as work:
        for name, table_rows in rows.items():
            table = Base.metadata.tables[name]
            refs = REFERENCES.get(name, {})
            resolved = [{**row, **{col: ids[parent][row[col]] for col, parent in refs.items()}} for row in table_rows]
            if name in PARENTS:
                ids[name] = [
                    work.conn.execute(table.insert().returning(table.c.id), row).scalar_one() for row in resolved
                ]
            elif resolved:
                work.conn.execute(table.insert(), resolved)
        counts = {name: len(table_rows) for name, table_rows in rows.items()}
        work.record("demo_alignment", "database", None, None, {"rows": counts})
    return counts


PARENTS = {parent for refs in REFERENCES.values() for parent in refs.values()}


def summary(engine: Engine, config) -> dict:
    """Counts, contacts per funnel stage, revenue won and the channels that brought it.

    Money is summed in Python as Decimal: SQLite would sum it as floating point.
    """
    from truce.services.status import row_counts

    with engine.connect() as conn:
        per_stage = dict(conn.execute(select(Contact.stage, func.count()).group_by(Contact.stage)).all())
        contacts_by_channel = dict(
            conn.execute(select(Contact.source_channel, func.count()).group_by(Contact.source_channel)).all()
        )
        won = conn.execute(
            select(Contact.source_channel, Opportunity.amount)
            .select_from(Opportunity)
            .outerjoin(Contact, Opportunity.primary_contact_id == Contact.id)
            .where(Opportunity.status == "won")
        ).all()
        touches = dict(conn.execute(select(Touchpoint.kind, func.count()).group_by(Touchpoint.kind)).all())
    revenue_by_channel: dict = defaultdict(Decimal)
    for channel, amount in won:
        revenue_by_channel[channel] += amount
    channels = set(contacts_by_channel) | set(revenue_by_channel)
    top = sorted(
        (
            {
                "channel": c or "(none)",
                "contacts": contacts_by_channel.get(c, 0),
                "revenue_won": revenue_by_channel.get(c, Decimal("0.00")),
            }
            for c in channels
        ),
        key=lambda row: (-row["revenue_won"], -row["contacts"], row["channel"]),
    )
    order = config.funnel.stage_keys
    return {
        "tables": row_counts(engine),
        "contacts_per_stage": {s: per_stage.get(s, 0) for s in order}
        | {s: n for s, n in per_stage.items() if s not in order},
        "revenue_won": sum(revenue_by_channel.values(), Decimal("0.00")),
        "deals_won": len(won),
        "touchpoints_by_team": {"marketing": touches.get("marketing", 0), "sales": touches.get("sales", 0)},
        "top_channels": top[:10],
    }
