"""Discount approval: a seller asks the pricing owner to go beyond the policy; the owner answers, on a clock.

Marketing wants to sell the price and sales wants to close; the policy (`[pricing.discount_policy]`)
is the price both agreed, and this is the door past it. The rules are in truce.domain.discounts;
this module reads and writes them:

- `request` — the deal's owner or a sales leader asks for a discount above the deal's limit
  (product rule, else segment rule, else max_discount), with a reason from `[pricing.approval]
  reasons`. One open request per deal. The approvers are owed a `discount_approval` message.
- `approve` / `refuse` — only the approver kind `[pricing.approval] approver` names, never the
  requester, with a note. The requester (and the deal's owner, if someone else asked) is owed a
  message. `withdraw` — the requester (or a sales leader) takes an open request back.
- The answer is due `answer_within_hours` business hours after the request. The job
  `discount_approvals_due` claims each overdue request once (a conditional update on `overdue_at`)
  and owes the approvers a reminder, keyed so it is owed once.
- A deal is **beyond policy without approval** when its discount exceeds its limit and no approved
  request on it asked for at least that discount. Deals that carry another system's id
  (external_id, salesforce_id or hubspot_id: imported from a CRM) are flagged `imported`. Nothing
  here blocks a deal's price: the flag is shown on the deal (`deal_record`) and in `truce pricing`.

Every write is one unit of work with its audit entry; the messages are owed in the same one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, func, insert, select, update

from truce.config import TruceConfig
from truce.domain import discounts as rules
from truce.domain.access import Forbidden
from truce.services.jobs.registry import job
from truce.services.lifecycle import NotFound, user_by_email
from truce.services.notify.outbox import owe
from truce.services.records import InvalidField, RecordNotFound, get_record
from truce.store.models import Account, DiscountApproval, Opportunity, User
from truce.store.work import unit_of_work

RATE = Decimal("0.0001")
HOUR = dt.timedelta(hours=1)
LINK = "/economics/discounts"
JOB_ACTOR = "truce:discount_approvals_due"
NOTE_LONGEST = 2000
ACTIONS = {"approved": "discount_approve", "refused": "discount_refuse"}


class DiscountRefused(ValueError):
    """A request or answer the state of things does not allow (one already open, already answered)."""


class ApprovalNotFound(NotFound):
    """No discount approval request with that id."""


class NotYourDeal(Forbidden):
    """Only the deal's owner or a sales leader may ask for its discount."""


class NotTheApprover(Forbidden):
    """Only the approver kind truce.toml names may answer, and never the person who asked."""


# ---- reading ------------------------------------------------------------------------------------


def _person(row) -> rules.Person:
    return rules.Person(
        row["id"], row["email"], row["team"], bool(row["is_leader"]), row["access"], bool(row["active"])
    )


def _actor(conn: Connection, email: str | None) -> rules.Person:
    if not email:
        raise InvalidField("actor", "say who acts: --as EMAIL or TRUCE_USER")
    return _person(user_by_email(conn, email))


def _deal(conn: Connection, opportunity_id: int, lock: bool = False):
    query = (
        select(Opportunity, Account.segment)
        .outerjoin(Account, Account.id == Opportunity.account_id)
        .where(Opportunity.id == opportunity_id)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=Opportunity)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise RecordNotFound(f"no opportunity with id {opportunity_id}")
    return row


def limit_of(config: TruceConfig, segment: str | None, product: str | None) -> Decimal:
    return Decimal(str(config.pricing.discount_policy.limit_for(segment, product))).quantize(RATE)


def _approval(conn: Connection, approval_id: int, lock: bool = False):
    query = select(DiscountApproval).where(DiscountApproval.id == approval_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()  # two approvers answering at once: the second sees the first's answer
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApprovalNotFound(f"no discount approval request with id {approval_id}")
    return row


def _approvers(conn: Connection, kind: str, requester_id: int) -> list[rules.Person]:
    users = conn.execute(select(User).order_by(User.id)).mappings()
    return [p for p in map(_person, users) if rules.may_answer(kind, p, requester_id)]


def imported(deal) -> bool:
    """A deal carrying another system's id came from a CRM (a file import or a sync)."""
    return any(deal[name] for name in ("external_id", "salesforce_id", "hubspot_id"))


# ---- checking what was asked -----------------------------------------------------------------------


def _rate(discount) -> Decimal:
    try:
        rate = Decimal(str(discount)).quantize(RATE, rounding=ROUND_HALF_EVEN)
    except (InvalidOperation, ValueError):
        raise InvalidField("discount", f"a discount is a rate such as 0.25 (25 %), not {discount!r}") from None
    if not 0 < rate < 1:
        raise InvalidField("discount", f"a discount is a rate above 0 and below 1, e.g. 0.25 for 25 %, not {discount}")
    return rate


def _reason(config: TruceConfig, reason: str | None) -> str:
    reasons = config.pricing.approval.reasons
    if reason not in reasons:
        raise InvalidField("reason", f"choose a reason from truce.toml [pricing.approval]: {', '.join(reasons)}")
    return reason


def _note(note: str | None, required: bool) -> str | None:
    note = (note or "").strip() or None
    if required and note is None:
        raise InvalidField("note", "an answer needs a note saying why, for the seller and the record")
    if note is not None and len(note) > NOTE_LONGEST:
        raise InvalidField("note", f"a note is at most {NOTE_LONGEST} characters, not {len(note)}")
    return note


def pct(rate) -> str:
    """A rate as people write it: 0.25 → "25 %", 0.125 → "12.5 %"."""
    return f"{Decimal(str(rate)) * 100:f}".rstrip("0").rstrip(".") + " %"


def _shown(row, people: dict[int, str], deal=None) -> dict:
    return {
        "id": row["id"],
        "opportunity_id": row["opportunity_id"],
        "opportunity": deal["name"] if deal is not None else None,
        "requested_discount": float(row["requested_discount"]),
        "policy_limit": float(row["policy_limit"]),
        "reason": row["reason"],
        "request_note": row["request_note"],
        "requested_by": people.get(row["requested_by_id"]),
        "requested_at": row["requested_at"],
        "due_at": row["due_at"],
        "state": row["state"],
        "decided_by": people.get(row["decided_by_id"]),
        "decided_at": row["decided_at"],
        "note": row["note"],
    }


def _audited(row) -> dict:
    return {
        "opportunity_id": row["opportunity_id"],
        "requested_discount": str(row["requested_discount"]),
        "policy_limit": str(row["policy_limit"]),
        "reason": row["reason"],
        "state": row["state"],
        "due_at": row["due_at"].isoformat(),
        "note": row["note"],
    }


# ---- the use cases --------------------------------------------------------------------------------


def request(
    engine: Engine,
    config: TruceConfig,
    opportunity_id: int,
    discount,
    reason: str | None,
    actor_email: str | None,
    note: str | None = None,
    *,
    origin: str = "cli",
    at: dt.datetime | None = None,
) -> dict:
    """Ask the pricing owner for `discount` on the deal; the approvers are owed a message. The new request."""
    rate, reason, note = _rate(discount), _reason(config, reason), _note(note, required=False)
    clock = config.business_hours.clock(config.company.timezone)
    with unit_of_work(engine, actor_email or "unknown", origin) as work:
        conn, now = work.conn, at or work.now
        actor = _actor(conn, actor_email)
        deal = _deal(conn, opportunity_id, lock=True)
        _may_request(conn, actor, deal)
        limit = limit_of(config, deal["segment"], deal["product"])
        if not rules.needs_approval(rate, limit):
            raise InvalidField(
                "discount",
                f"no approval needed: {pct(rate)} is within the policy limit of {pct(limit)} for this deal; "
                "a discount up to the limit is the sellers' own call",
            )
        _none_open(conn, opportunity_id)
        values = {
            "opportunity_id": opportunity_id,
            "requested_discount": rate,
            "policy_limit": limit,
            "reason": reason,
            "request_note": note,
            "requested_by_id": actor.id,
            "requested_at": now,
            "due_at": clock.add(now, config.pricing.approval.answer_within_hours * HOUR),
            "state": rules.OPEN,
        }
        new_id = conn.execute(insert(DiscountApproval).returning(DiscountApproval.id), values).scalar_one()
        row = _approval(conn, new_id)
        work.record("discount_request", "discount_approval", new_id, None, _audited(row))
        _tell_approvers(conn, config, row, deal, actor, "requested")
        return _shown(row, {actor.id: actor.email}, deal)


def _may_request(conn: Connection, actor: rules.Person, deal) -> None:
    if rules.may_request(actor, deal["owner_id"]):
        return
    owner = conn.execute(select(User.email).where(User.id == deal["owner_id"])).scalar_one_or_none()
    whose = f"the deal's owner ({owner})" if owner else "the deal's owner (it has none)"
    raise NotYourDeal(f"{actor.email} may not ask for this deal's discount: only {whose} or a sales leader may")


def _none_open(conn: Connection, opportunity_id: int) -> None:
    found = conn.execute(
        select(DiscountApproval.id).where(
            DiscountApproval.opportunity_id == opportunity_id, DiscountApproval.state == rules.OPEN
        )
    ).scalar_one_or_none()
    if found is not None:
        raise DiscountRefused(
            f"opportunity {opportunity_id} already has an open request (#{found}); "
            f"wait for its answer or withdraw it: truce discount withdraw {found}"
        )


def approve(
    engine: Engine,
    config: TruceConfig,
    approval_id: int,
    actor_email: str | None,
    note: str | None,
    *,
    origin: str = "cli",
    at: dt.datetime | None = None,
) -> dict:
    """The pricing owner approves the request, with a note; the seller is owed a message."""
    return _answer(engine, config, approval_id, actor_email, note, "approved", origin, at)


def refuse(
    engine: Engine,
    config: TruceConfig,
    approval_id: int,
    actor_email: str | None,
    note: str | None,
    *,
    origin: str = "cli",
    at: dt.datetime | None = None,
) -> dict:
    """The pricing owner refuses the request, with a note saying why; the seller is owed a message."""
    return _answer(engine, config, approval_id, actor_email, note, "refused", origin, at)


def _answer(engine, config, approval_id, actor_email, note, state, origin, at) -> dict:
    note = _note(note, required=True)
    with unit_of_work(engine, actor_email or "unknown", origin) as work:
        conn, now = work.conn, at or work.now
        actor = _actor(conn, actor_email)
        row = _approval(conn, approval_id, lock=True)
        _may_answer(config, actor, row)
        _still_open(row)
        changed = _close(conn, row, state, actor, now, note)
        work.record(ACTIONS[state], "discount_approval", approval_id, _audited(row), _audited(changed))
        deal = _deal(conn, row["opportunity_id"])
        _tell_requester(conn, changed, deal, actor)
        return _shown(changed, _emails(conn, changed), deal)


def withdraw(
    engine: Engine,
    config: TruceConfig,
    approval_id: int,
    actor_email: str | None,
    note: str | None = None,
    *,
    origin: str = "cli",
    at: dt.datetime | None = None,
) -> dict:
    """The requester (or a sales leader) takes an open request back; nobody is told."""
    note = _note(note, required=False)
    with unit_of_work(engine, actor_email or "unknown", origin) as work:
        conn, now = work.conn, at or work.now
        actor = _actor(conn, actor_email)
        row = _approval(conn, approval_id, lock=True)
        if not (actor.acts and (actor.id == row["requested_by_id"] or (actor.team == "sales" and actor.is_leader))):
            raise NotYourDeal(
                f"{actor.email} may not withdraw request #{approval_id}: only who asked or a sales leader may"
            )
        _still_open(row)
        changed = _close(conn, row, "withdrawn", actor, now, note)
        work.record("discount_withdraw", "discount_approval", approval_id, _audited(row), _audited(changed))
        return _shown(changed, _emails(conn, changed), _deal(conn, row["opportunity_id"]))


def _may_answer(config: TruceConfig, actor: rules.Person, row) -> None:
    kind = config.pricing.approval.approver
    if actor.id == row["requested_by_id"]:
        raise NotTheApprover(
            f"{actor.email} asked for this discount and may not answer it; {rules.APPROVERS[kind]} answers"
        )
    if not rules.may_answer(kind, actor, row["requested_by_id"]):
        raise NotTheApprover(
            f"{actor.email} may not answer discount requests: truce.toml [pricing.approval] approver = {kind!r}, "
            f"so only {rules.APPROVERS[kind]} may"
        )


def _still_open(row) -> None:
    if row["state"] != rules.OPEN:
        raise DiscountRefused(f"request #{row['id']} is already {row['state']}; nothing to answer")


def _close(conn: Connection, row, state: str, actor: rules.Person, now: dt.datetime, note: str | None):
    # Conditional on the state: an answer that lost a race finds no open request and changes nothing.
    done = conn.execute(
        update(DiscountApproval)
        .where(DiscountApproval.id == row["id"], DiscountApproval.state == rules.OPEN)
        .values(state=state, decided_by_id=actor.id, decided_at=now, note=note)
        .returning(DiscountApproval.id)
    ).scalar_one_or_none()
    if done is None:
        raise DiscountRefused(f"request #{row['id']} was answered a moment ago; reload to see the answer")
    return _approval(conn, row["id"])


def _emails(conn: Connection, row) -> dict[int, str]:
    ids = [i for i in (row["requested_by_id"], row["decided_by_id"]) if i is not None]
    return dict(conn.execute(select(User.id, User.email).where(User.id.in_(ids))).all())


# ---- messages -------------------------------------------------------------------------------------


def _facts(row, deal) -> dict:
    return {
        "request_id": row["id"],
        "opportunity_id": row["opportunity_id"],
        "requested_discount": str(row["requested_discount"]),
        "policy_limit": str(row["policy_limit"]),
        "reason": row["reason"],
        "due_at": row["due_at"].isoformat(),
        "state": row["state"],
    }


def _tell_approvers(conn: Connection, config: TruceConfig, row, deal, requester: rules.Person, event: str) -> int:
    """Owe the approvers one message each for `event` (requested, overdue); the company's channels if there are none."""
    name = deal["name"] or f"opportunity {deal['id']}"
    ask = f"{pct(row['requested_discount'])} off {name} (policy {pct(row['policy_limit'])}), reason {row['reason']}"
    subject = {"requested": f"Discount approval asked: {ask}", "overdue": f"Overdue discount approval: {ask}"}[event]
    text = (
        f"{ask}. Asked by {requester.email}; answer due {row['due_at']:%Y-%m-%d %H:%M} UTC. "
        f"Approve or refuse with a note: truce discount approve {row['id']} --note ..."
    )
    message: dict[str, Any] = {"subject": subject, "text": text, "link": LINK, "facts": _facts(row, deal)}
    people = _approvers(conn, config.pricing.approval.approver, row["requested_by_id"])
    if not people:  # nobody of that kind yet: the company's channels, so the request is not lost
        found = owe(
            conn, "discount_approval", to_user_id=None, key=f"discount_approval:{row['id']}:{event}:company", **message
        )
        return int(found is not None)
    owed = [
        owe(
            conn,
            "discount_approval",
            to_user_id=p.id,
            key=f"discount_approval:{row['id']}:{event}:user:{p.id}",
            **message,
        )
        for p in people
    ]
    return sum(1 for found in owed if found is not None)


def _tell_requester(conn: Connection, row, deal, approver: rules.Person) -> None:
    name = deal["name"] or f"opportunity {deal['id']}"
    subject = f"Discount {row['state']}: {pct(row['requested_discount'])} off {name}"
    text = f"{approver.email} {row['state']} {pct(row['requested_discount'])} off {name}: {row['note']}"
    for user_id in dict.fromkeys([row["requested_by_id"], deal["owner_id"]]):
        if user_id is not None:
            owe(
                conn,
                "discount_approval",
                to_user_id=user_id,
                subject=subject,
                text=text,
                link=LINK,
                facts=_facts(row, deal),
                key=f"discount_approval:{row['id']}:{row['state']}:user:{user_id}",
            )


# ---- the overdue sweep ----------------------------------------------------------------------------


@job(
    "discount_approvals_due",
    every="1h",
    help="Remind the approvers, once, of discount requests past their answer deadline",
)
def overdue(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict[str, int]:
    """Claim each open request past its deadline once, and owe the approvers a reminder."""
    with engine.connect() as conn:
        due = (
            conn.execute(
                select(DiscountApproval.id)
                .where(
                    DiscountApproval.state == rules.OPEN,
                    DiscountApproval.overdue_at.is_(None),
                    DiscountApproval.due_at <= now,
                )
                .order_by(DiscountApproval.id)
            )
            .scalars()
            .all()
        )
    counts = {"overdue": 0, "reminders": 0}
    if not due:
        return counts
    with unit_of_work(engine, JOB_ACTOR, "job") as work:
        conn = work.conn
        # Claim first, or a second sweep running at the same moment would remind the approvers twice.
        claimed = (
            conn.execute(
                update(DiscountApproval)
                .where(
                    DiscountApproval.id.in_(due),
                    DiscountApproval.state == rules.OPEN,
                    DiscountApproval.overdue_at.is_(None),
                )
                .values(overdue_at=now)
                .returning(DiscountApproval.id)
            )
            .scalars()
            .all()
        )
        for approval_id in sorted(claimed):
            row = _approval(conn, approval_id)
            requester = _person(conn.execute(select(User).where(User.id == row["requested_by_id"])).mappings().one())
            counts["reminders"] += _tell_approvers(
                conn, config, row, _deal(conn, row["opportunity_id"]), requester, "overdue"
            )
            work.record(
                "discount_overdue",
                "discount_approval",
                approval_id,
                None,
                {"due_at": row["due_at"].isoformat(), "found_at": now.isoformat()},
            )
        counts["overdue"] = len(claimed)
    return counts


# ---- lists and the flag on a deal ------------------------------------------------------------------


def list_approvals(
    engine: Engine, config: TruceConfig, *, pending: bool = False, now: dt.datetime | None = None, limit: int = 500
) -> list[dict]:
    """Requests, newest first (pending: the open ones, the soonest due first), with business hours left."""
    now = now or dt.datetime.now(dt.UTC)
    clock = config.business_hours.clock(config.company.timezone)
    query = select(DiscountApproval, Opportunity.name.label("opportunity_name")).join(
        Opportunity, Opportunity.id == DiscountApproval.opportunity_id
    )
    if pending:
        query = query.where(DiscountApproval.state == rules.OPEN).order_by(DiscountApproval.due_at, DiscountApproval.id)
    else:
        query = query.order_by(DiscountApproval.id.desc())
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit)).mappings().all()
        people = dict(conn.execute(select(User.id, User.email)).all())
    return [_listed(row, people, clock, now) for row in rows]


def _listed(row, people, clock, now) -> dict:
    shown = _shown(row, people, {"name": row["opportunity_name"]})
    shown["late"] = rules.late(row["state"], row["due_at"], row["decided_at"], now)
    shown["hours_left"] = _hours_left(clock, now, row["due_at"]) if row["state"] == rules.OPEN else None
    return shown


def _hours_left(clock, now: dt.datetime, due: dt.datetime) -> float:
    if due >= now:
        return round(clock.between(now, due) / HOUR, 2)
    return -round(clock.between(due, now) / HOUR, 2)


def get_approval(engine: Engine, config: TruceConfig, approval_id: int, now: dt.datetime | None = None) -> dict:
    now = now or dt.datetime.now(dt.UTC)
    clock = config.business_hours.clock(config.company.timezone)
    with engine.connect() as conn:
        row = _approval(conn, approval_id)
        deal = _deal(conn, row["opportunity_id"])
        shown = _listed({**row, "opportunity_name": deal["name"]}, _emails(conn, row), clock, now)
    return shown


def approved_discounts(conn: Connection, opportunity_ids: list[int] | None = None) -> dict[int, Decimal]:
    """The largest approved discount of each deal that has one (all deals when no ids are given)."""
    query = (
        select(DiscountApproval.opportunity_id, func.max(DiscountApproval.requested_discount))
        .where(DiscountApproval.state == "approved")
        .group_by(DiscountApproval.opportunity_id)
    )
    if opportunity_ids is not None:
        query = query.where(DiscountApproval.opportunity_id.in_(opportunity_ids))
    return {deal: Decimal(rate).quantize(RATE) for deal, rate in conn.execute(query).all()}


def discount_flag(config: TruceConfig, deal, approved: Decimal | None, open_request: int | None) -> dict:
    """What the deal's record says about its discount: within policy, approved, or flagged."""
    from truce.services.pricing import discount_of

    discount = discount_of(deal["amount"], deal["list_amount"], deal["discount_rate"])
    limit = limit_of(config, deal["segment"], deal["product"])
    beyond = discount is not None and rules.needs_approval(discount, limit)
    covered = beyond and discount is not None and rules.covered(discount, [approved] if approved is not None else [])
    return {
        "discount": float(discount) if discount is not None else None,
        "limit": float(limit),
        "beyond_policy": beyond,
        "approved_discount": float(approved) if approved is not None else None,
        "open_request_id": open_request,
        "imported": imported(deal),
        "flagged": beyond and not covered,
    }


def deal_record(engine: Engine, config: TruceConfig, opportunity_id: int) -> dict:
    """One deal as the records API shows it, with `discount_approval`: its discount against policy and approvals."""
    record = get_record(engine, "opportunities", opportunity_id)
    with engine.connect() as conn:
        deal = _deal(conn, opportunity_id)
        approved = approved_discounts(conn, [opportunity_id]).get(opportunity_id)
        open_request = conn.execute(
            select(DiscountApproval.id).where(
                DiscountApproval.opportunity_id == opportunity_id, DiscountApproval.state == rules.OPEN
            )
        ).scalar_one_or_none()
    record["discount_approval"] = discount_flag(config, deal, approved, open_request)
    return record


def requests_in(conn: Connection, start: dt.date | None, end: dt.date | None) -> Sequence[RowMapping]:
    """The requests made in [start, end] (UTC dates of `requested_at`), for the pricing report."""
    query = select(DiscountApproval)
    if start is not None:
        query = query.where(DiscountApproval.requested_at >= dt.datetime.combine(start, dt.time(), dt.UTC))
    if end is not None:
        query = query.where(
            DiscountApproval.requested_at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
        )
    return conn.execute(query.order_by(DiscountApproval.id)).mappings().all()


def answers_requests(engine: Engine, config: TruceConfig, email: str) -> bool:
    """Whether the user is of the approver kind truce.toml names (the page shows them the answer forms)."""
    with engine.connect() as conn:
        try:
            person = _person(user_by_email(conn, email))
        except NotFound:
            return False
    return rules.is_approver(config.pricing.approval.approver, person)
