"""The joint meeting, kept: opened from the brief of a period, its attendees, and the decisions it records.

- `start_meeting` opens the meeting of a brief period (default: the current ISO week, company
  time) with the brief's "decisions needed" as its agenda, in the brief's order. Starting it
  again for the same period returns the meeting already there (adding any new attendees): one
  meeting per period.
- `record_decision` records what the meeting decided — on an agenda item or on its own — with
  an owner (an active user of marketing, sales or RevOps), a due date (today or later, within
  truce's calendar) and the indicator it should move, whose value over the 28 days before the
  decision is kept beside it.
- Who may: RevOps or a leader of sales or marketing holds a meeting and records its decisions.

Each write is one unit of work with its audit entries; a refusal writes nothing.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from truce.config import TruceConfig
from truce.domain import meetings as rules
from truce.services.meetings.common import (
    DECISION_WINDOW_DAYS,
    MeetingRefused,
    NotYours,
    acting_user,
    active_user,
    due_day,
    measure,
    text,
    today_in,
    window_before,
)
from truce.store.models import AgendaItem, Decision, Meeting, MeetingAttendee, User
from truce.store.work import unit_of_work
from truce.vocabulary import TEAMS


def _may_hold(user) -> None:
    if user["team"] != "revops" and not user["is_leader"]:
        raise NotYours(
            f"{user['email']} may not hold the joint meeting: RevOps or a leader of sales or marketing holds it"
        )


def meeting_period(config: TruceConfig, period: str | None, now: dt.datetime):
    """The brief period a meeting is for: as written, or the ISO week that holds today (company time)."""
    from truce.services import brief

    zone = ZoneInfo(config.company.timezone)
    if period is None or not str(period).strip():
        return brief.week_of(now.astimezone(zone).date(), zone)
    try:
        return brief.parse_period(str(period), config.company.timezone)
    except brief.BriefError as exc:
        raise MeetingRefused("period", str(exc)) from None


def _agenda_from_brief(engine: Engine, config: TruceConfig, label: str, now: dt.datetime) -> list[dict]:
    from truce.services.brief import BriefError, build_brief

    try:
        found = build_brief(engine, config, period=label, as_of=now)
    except BriefError as exc:
        raise MeetingRefused("period", str(exc)) from None
    return found["decisions"]


def start_meeting(
    engine: Engine,
    config: TruceConfig,
    *,
    period: str | None = None,
    attendees=(),
    actor: str | None,
    origin: str = "cli",
    now: dt.datetime | None = None,
    agenda: list[dict] | None = None,
) -> dict:
    """Open the meeting of a brief period with the brief's decisions needed as its agenda (idempotent)."""
    now = now or dt.datetime.now(dt.UTC)
    chosen = meeting_period(config, period, now)
    with engine.connect() as conn:
        held = conn.execute(select(Meeting.id).where(Meeting.period == chosen.label)).scalar_one_or_none()
    if held is None and agenda is None:
        agenda = _agenda_from_brief(engine, config, chosen.label, now)  # read before the write lock is taken
    try:
        _write_meeting(engine, chosen, attendees, actor, origin, now, agenda or [])
    except IntegrityError:  # another start of the same period committed first: that one is the meeting
        _write_meeting(engine, chosen, attendees, actor, origin, now, [])
    return show_meeting(engine, config, period=chosen.label, now=now)


def _write_meeting(engine, chosen, attendees, actor, origin, now, agenda) -> int:
    with unit_of_work(engine, actor or "cli", origin) as work:
        conn = work.conn
        by = acting_user(conn, actor)
        _may_hold(by)
        people = [active_user(conn, email, "attendees") for email in attendees]
        meeting_id = conn.execute(select(Meeting.id).where(Meeting.period == chosen.label)).scalar_one_or_none()
        if meeting_id is None:
            meeting_id = _open(conn, work, chosen, by, agenda, now)
        _attend(conn, work, meeting_id, [by, *people], by["email"])  # who holds it is there
        return meeting_id


def _open(conn: Connection, work, chosen, by, agenda: list[dict], now: dt.datetime) -> int:
    meeting_id = conn.execute(
        insert(Meeting).returning(Meeting.id),
        {"period": chosen.label, "period_first_day": chosen.first_day, "period_last_day": chosen.last_day,
         "held_at": now, "opened_by_id": by["id"]},
    ).scalar_one()  # fmt: skip
    items = [
        {"meeting_id": meeting_id, "position": n, "rule": item.get("rule"), "owner_team": item.get("owner"),
         "text": item["text"]}
        for n, item in enumerate(agenda, 1)
    ]  # fmt: skip
    if items:
        conn.execute(insert(AgendaItem), items)
    work.record(
        "meeting_start",
        "meeting",
        meeting_id,
        None,
        {"period": chosen.label, "agenda": [i["text"] for i in items]},
        actor=by["email"],
    )
    return meeting_id


def _attend(conn: Connection, work, meeting_id: int, people: list, actor: str) -> None:
    """Attendees not yet on the meeting's list are added; those already on it are left as they are."""
    present = set(
        conn.execute(select(MeetingAttendee.user_id).where(MeetingAttendee.meeting_id == meeting_id)).scalars()
    )
    new = [p for p in dict((p["id"], p) for p in people).values() if p["id"] not in present]
    if not new:
        return
    conn.execute(insert(MeetingAttendee), [{"meeting_id": meeting_id, "user_id": p["id"]} for p in new])
    work.record("meeting_attend", "meeting", meeting_id, None, {"attendees": [p["email"] for p in new]}, actor=actor)


# ---- decisions -------------------------------------------------------------------------------------


def _meeting_id(conn: Connection, label: str) -> int:
    found = conn.execute(select(Meeting.id).where(Meeting.period == label)).scalar_one_or_none()
    if found is None:
        raise MeetingRefused(
            "period", f"no meeting for {label} yet; start it first (truce meeting start --period {label})"
        )
    return found


def _item(conn: Connection, meeting_id: int, position) -> dict | None:
    if position in (None, ""):
        return None
    try:
        number = int(position)
    except (TypeError, ValueError):
        raise MeetingRefused("item", f"item {position!r} is not an agenda item's number") from None
    found = conn.execute(
        select(AgendaItem.id, AgendaItem.text).where(AgendaItem.meeting_id == meeting_id, AgendaItem.position == number)
    ).one_or_none()
    if found is None:
        raise MeetingRefused("item", f"the meeting has no agenda item {number}")
    return {"id": found.id, "position": number, "text": found.text}


def record_decision(
    engine: Engine,
    config: TruceConfig,
    *,
    period: str | None = None,
    item: int | str | None = None,
    text_: str | None = None,
    owner: str | None,
    due: dt.date | str | None,
    indicator: str | None,
    actor: str | None,
    origin: str = "cli",
    now: dt.datetime | None = None,
) -> dict:
    """Record one decision of the meeting of `period` (default: this week's); returns it as `list_decisions` shows it."""
    from truce.services.meetings.decisions import decision_rows

    now = now or dt.datetime.now(dt.UTC)
    chosen = meeting_period(config, period, now)
    today = today_in(config, now)
    due_on = due_day(due, "due", today) if due not in (None, "") else None
    if due_on is None:
        raise MeetingRefused("due", "due needs a date, YYYY-MM-DD")
    if due_on < today:
        raise MeetingRefused("due", f"due {due_on} is before today ({today}): a decision is due today or later")
    if indicator is None or not indicator.strip():
        # A decision is judged by the indicator it should move; without one it cannot be followed up.
        raise MeetingRefused(
            "indicator", f"required: the indicator this decision should move, one of: {', '.join(rules.INDICATORS)}"
        )
    try:
        key = rules.check_indicator(indicator)
    except rules.UnknownIndicator as exc:
        raise MeetingRefused("indicator", str(exc)) from None
    value = measure(engine, config, [key], window_before(today, DECISION_WINDOW_DAYS), now)[key]
    with unit_of_work(engine, actor or "cli", origin) as work:
        conn = work.conn
        by = acting_user(conn, actor)
        _may_hold(by)
        meeting_id = _meeting_id(conn, chosen.label)
        on_item = _item(conn, meeting_id, item)
        # Without an item on record the text is required (text() refuses a blank one).
        written = text(text_, "text", required=on_item is None) or (on_item["text"] if on_item else "")
        who = active_user(conn, owner, "owner")
        values = {"meeting_id": meeting_id, "agenda_item_id": on_item and on_item["id"], "text": written,
                  "owner_id": who["id"], "due_on": due_on, "indicator": key, "indicator_value": value,
                  "state": "open", "decided_at": now, "decided_by_id": by["id"]}  # fmt: skip
        decision_id = conn.execute(insert(Decision).returning(Decision.id), values).scalar_one()
        work.record("decision_record", "decision", decision_id, None, _audited(values, chosen.label, who, on_item),
                    actor=by["email"])  # fmt: skip
        return decision_rows(conn, Decision.id == decision_id, today=today)[0]


def _audited(values: dict, label: str, owner, on_item) -> dict:
    return {
        "meeting": label,
        "item": on_item and on_item["position"],
        "text": values["text"],
        "owner": owner["email"],
        "due_on": values["due_on"].isoformat(),
        "indicator": values["indicator"],
        "indicator_value": values["indicator_value"],
        "state": "open",
    }


# ---- reading a meeting -------------------------------------------------------------------------------


def show_meeting(
    engine: Engine, config: TruceConfig, *, period: str | None = None, now: dt.datetime | None = None
) -> dict:
    """The meeting of a period (default: this week's): attendees, agenda items with their decisions, and all decisions."""
    from truce.services.meetings.decisions import decision_rows

    now = now or dt.datetime.now(dt.UTC)
    chosen = meeting_period(config, period, now)
    with engine.connect() as conn:
        meeting_id = _meeting_id(conn, chosen.label)
        return _meeting(conn, meeting_id, today_in(config, now), decision_rows)


def _meeting(conn: Connection, meeting_id: int, today: dt.date, decision_rows) -> dict:
    meeting = conn.execute(
        select(Meeting.__table__, User.email.label("opened_by")).join(User, User.id == Meeting.opened_by_id).where(Meeting.id == meeting_id)
    ).mappings().one()  # fmt: skip
    attendees = conn.execute(
        select(User.email, User.name, User.team)
        .join(MeetingAttendee, MeetingAttendee.user_id == User.id)
        .where(MeetingAttendee.meeting_id == meeting_id)
        .order_by(User.team, User.email)
    ).mappings().all()  # fmt: skip
    items = conn.execute(
        select(AgendaItem.id, AgendaItem.position, AgendaItem.rule, AgendaItem.owner_team, AgendaItem.text)
        .where(AgendaItem.meeting_id == meeting_id)
        .order_by(AgendaItem.position)
    ).mappings().all()  # fmt: skip
    decisions = decision_rows(conn, Decision.meeting_id == meeting_id, today=today)
    return {
        "id": meeting_id,
        "period": meeting["period"],
        "first_day": meeting["period_first_day"],
        "last_day": meeting["period_last_day"],
        "held_at": meeting["held_at"],
        "opened_by": meeting["opened_by"],
        "attendees": [dict(a) for a in attendees],
        "agenda": [
            {
                "item": i["position"],
                "rule": i["rule"],
                "owner_team": i["owner_team"],
                "text": i["text"],
                "decisions": [d["id"] for d in decisions if d["item"] == i["position"]],
            }
            for i in items
        ],  # fmt: skip
        "decisions": decisions,
    }


def latest_meeting_before(conn: Connection, first_day: dt.date, held_before: dt.datetime) -> int | None:
    """The last meeting a brief of a period starting on `first_day` follows: the latest one held by then
    whose period starts no later than the brief's."""
    return conn.execute(
        select(Meeting.id)
        .where(Meeting.period_first_day <= first_day, Meeting.held_at <= held_before)
        .order_by(Meeting.period_first_day.desc(), Meeting.held_at.desc(), Meeting.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def people_to_choose(engine: Engine) -> list[dict]:
    """Who may own a decision or attend: the active users of marketing, sales and RevOps, by team and name."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(User.email, User.name, User.team)
            .where(User.active.is_(True), User.team.in_(TEAMS), User.access != "viewer")
            .order_by(User.team, User.name, User.email)
        ).mappings()
        return [dict(r) for r in rows]
