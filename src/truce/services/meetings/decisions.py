"""Decisions tracked to done: the list, and closing one (done, or dropped with a note).

A decision is open until its owner, a leader of the owner's team, or RevOps marks it done (a
note is welcome) or drops it (a note saying why is required). A closed decision stays closed.
An open decision is *overdue* when its due date is before today (company time).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.orm import aliased

from truce.config import TruceConfig
from truce.domain import meetings as rules
from truce.services.lifecycle import NotFound
from truce.services.meetings.common import (
    DecisionConflict,
    MeetingRefused,
    NotYours,
    acting_user,
    active_user,
    text,
    today_in,
)
from truce.store.models import AgendaItem, Decision, Meeting, User
from truce.store.work import unit_of_work
from truce.vocabulary import DECISION_FILTERS

STATES = DECISION_FILTERS
CLOSED = {"done": "decision_done", "dropped": "decision_drop"}


def decision_rows(conn: Connection, *where, today: dt.date) -> list[dict]:
    """Decisions with their meeting, owner and closer, soonest due first."""
    owner, decider, closer = aliased(User), aliased(User), aliased(User)
    query = (
        select(
            Decision.__table__,
            Meeting.period,
            AgendaItem.position,
            owner.email.label("owner"),
            owner.name.label("owner_name"),
            owner.team.label("owner_team"),
            decider.email.label("decided_by"),
            closer.email.label("closed_by"),
        )
        .join(Meeting, Meeting.id == Decision.meeting_id)
        .join(owner, owner.id == Decision.owner_id)
        .join(decider, decider.id == Decision.decided_by_id)
        .outerjoin(closer, closer.id == Decision.closed_by_id)
        .outerjoin(AgendaItem, AgendaItem.id == Decision.agenda_item_id)
        .where(*where)
        .order_by(Decision.due_on, Decision.id)
    )
    return [_row(r, today) for r in conn.execute(query).mappings()]


def _row(d, today: dt.date) -> dict:
    indicator = rules.INDICATORS[d["indicator"]]
    return {
        "id": d["id"],
        "meeting": d["period"],
        "item": d["position"],
        "text": d["text"],
        "owner": d["owner"],
        "owner_name": d["owner_name"],
        "owner_team": d["owner_team"],
        "due_on": d["due_on"],
        "indicator": d["indicator"],
        "indicator_label": indicator.label,
        "indicator_better": indicator.better,
        "indicator_then": d["indicator_value"],
        "state": d["state"],
        "overdue": d["state"] == "open" and d["due_on"] < today,
        "note": d["closing_note"],
        "decided_at": d["decided_at"],
        "decided_by": d["decided_by"],
        "closed_at": d["closed_at"],
        "closed_by": d["closed_by"],
    }


def list_decisions(
    engine: Engine,
    config: TruceConfig,
    *,
    state: str = "open",
    owner: str | None = None,
    now: dt.datetime | None = None,
) -> list[dict]:
    """Decisions (open by default; "all", "done" or "dropped"), optionally one owner's, soonest due first."""
    if state not in STATES:
        raise MeetingRefused("state", f"state {state!r} is not one of {', '.join(STATES)}")
    where = [] if state == "all" else [Decision.state == state]
    with engine.connect() as conn:
        if owner:
            where.append(Decision.owner_id == active_user(conn, owner, "owner")["id"])
        return decision_rows(conn, *where, today=today_in(config, now or dt.datetime.now(dt.UTC)))


def close_decision(
    engine: Engine,
    config: TruceConfig,
    decision_id: int,
    *,
    state: str,
    note: str | None,
    actor: str | None,
    origin: str = "cli",
    now: dt.datetime | None = None,
) -> dict:
    """Mark an open decision done or dropped, with a note (required to drop); returns it."""
    if state not in CLOSED:
        raise MeetingRefused("state", f"a decision is closed as done or dropped, not {state!r}")
    written = text(note, "note", required=state == "dropped")
    now = now or dt.datetime.now(dt.UTC)
    with unit_of_work(engine, actor or "cli", origin) as work:
        conn = work.conn
        by = acting_user(conn, actor)
        found = conn.execute(
            select(Decision.state, Decision.owner_id, User.team, User.email)
            .join(User, User.id == Decision.owner_id)
            .where(Decision.id == decision_id)
        ).one_or_none()
        if found is None:
            raise NotFound(f"no decision {decision_id}")
        _may_close(by, found)
        if found.state != "open":
            raise DecisionConflict(f"decision {decision_id} is already {found.state}; a closed decision stays closed")
        # Closed only while still open: of two people closing it at once, the second finds it closed.
        changed = conn.execute(
            update(Decision)
            .where(Decision.id == decision_id, Decision.state == "open")
            .values(state=state, closing_note=written, closed_at=now, closed_by_id=by["id"])
        ).rowcount
        if changed != 1:
            raise DecisionConflict(f"decision {decision_id} was closed by someone else just now")
        work.record(CLOSED[state], "decision", decision_id, {"state": "open", "note": None},
                    {"state": state, "note": written}, actor=by["email"])  # fmt: skip
        return decision_rows(conn, Decision.id == decision_id, today=today_in(config, now))[0]


def _may_close(by, found) -> None:
    if not rules.may_close(
        actor_id=by["id"],
        actor_team=by["team"],
        actor_is_leader=bool(by["is_leader"]),
        owner_id=found.owner_id,
        owner_team=found.team,
    ):
        raise NotYours(
            f"{by['email']} may not close a decision owned by {found.email}: "
            f"its owner, a {found.team} leader or RevOps closes it"
        )
