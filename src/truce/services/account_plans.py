"""Joint account plans: each key account has a named marketing liaison and a sales owner.

A plan carries the objectives both teams agreed for the account and the next joint action
with its due date. Setting a plan creates it or updates the account's one plan, and marks
the account a key account. The liaison must be an active marketing user and the owner an
active sales user; whoever sets the plan must be an active user. Fields left out (None) keep
their value on an update. One transaction, with an audit entry for the plan (and one for the
account when it becomes a key account); a refused write writes nothing.

A plan is *overdue* when its next action's due date is before today (UTC); a plan without a
due date is never overdue.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Engine, insert, select, update

from truce.domain.access import Forbidden
from truce.services.lifecycle import NotFound, user_by_email
from truce.store.models import Account, AccountPlan, User
from truce.store.work import record, unit_of_work

MAX_TEXT = 2000
PLAN_FIELDS = ("liaison_id", "owner_id", "objectives", "next_action", "next_action_due")


class PlanRefused(ValueError):
    """A plan the rules do not allow; the message says which rule."""


def account_by_key(conn: Connection, account: str | int):
    """An account by its id or its domain (case and a leading www. ignored)."""
    text = str(account).strip()
    if not text:
        raise PlanRefused("name the account by its domain or its id")
    if text.isdigit():
        query = select(Account).where(Account.id == int(text))
    else:
        domain = text.lower().removeprefix("www.")
        query = select(Account).where(Account.domain == domain)
    row = conn.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFound(f"no account with {'id' if text.isdigit() else 'domain'} {text!r}")
    return row


def _member(conn: Connection, email: str | None, team: str, role: str):
    if not email or not email.strip():
        raise PlanRefused(f"a key account plan needs a {role} ({team} user's email)")
    user = user_by_email(conn, email)
    if user["team"] != team:
        raise PlanRefused(f"the {role} must be a {team} user; {user['email']} is on the {user['team']} team")
    if not user["active"]:
        raise PlanRefused(f"{user['email']} is not an active user")
    return user


def _text(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise PlanRefused(f"{what} has {len(value):,} characters; at most {MAX_TEXT:,}")
    return value or None


def set_plan(
    engine: Engine,
    *,
    account: str | int,
    liaison_email: str | None,
    owner_email: str | None,
    objectives: str | None = None,
    next_action: str | None = None,
    next_action_due: dt.date | None = None,
    actor: str | None,
    origin: str = "cli",
) -> dict:
    """Create or update a key account's joint plan; returns it as `list_plans` shows it."""
    if next_action_due is not None and (
        not isinstance(next_action_due, dt.date) or isinstance(next_action_due, dt.datetime)
    ):
        raise PlanRefused(f"the due date must be a date, not {next_action_due!r}")
    given = {
        "objectives": _text(objectives, "the objectives"),
        "next_action": _text(next_action, "the next action"),
        "next_action_due": next_action_due,
    }
    if not actor or not actor.strip():
        raise PlanRefused("say who sets the plan: --as EMAIL or TRUCE_USER")
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(engine, actor, origin) as work:
        conn = work.conn
        by = user_by_email(conn, actor)
        if not by["active"]:
            raise PlanRefused(f"{by['email']} is not an active user")
        target = account_by_key(conn, account)
        given["liaison_id"] = _member(conn, liaison_email, "marketing", "liaison")["id"]
        given["owner_id"] = _member(conn, owner_email, "sales", "owner")["id"]
        _may_change(conn, by, target)
        plan_id = _write(conn, target["id"], given, by["email"], now)
        if not target["is_key_account"]:
            conn.execute(update(Account).where(Account.id == target["id"]).values(is_key_account=True, updated_at=now))
            _audit(
                conn,
                by["email"],
                "key_account",
                "account",
                target["id"],
                {"is_key_account": False},
                {"is_key_account": True},
                now,
            )
        return _plans(conn, AccountPlan.id == plan_id)[0]


def _may_change(conn: Connection, by, account) -> None:
    """A plan is its people's: once written, only its owner, its liaison, the account's owner, a sales
    leader or RevOps change it; anyone allowed to edit plans may write a key account's first one."""
    plan = conn.execute(
        select(AccountPlan.owner_id, AccountPlan.liaison_id).where(AccountPlan.account_id == account["id"])
    ).one_or_none()
    if plan is None or by["team"] == "revops" or by["is_leader"]:
        return
    if by["id"] in (plan.owner_id, plan.liaison_id, account["owner_id"]):
        return
    names = conn.execute(select(User.email).where(User.id.in_([plan.owner_id, plan.liaison_id]))).scalars().all()
    raise Forbidden(
        f"the joint plan for {account['name']} belongs to {' and '.join(sorted(names)) or 'its owner and liaison'}; "
        f"{by['email']} may not change it (they, a sales leader or RevOps may)"
    )


def _write(conn: Connection, account_id: int, given: dict, actor: str, now: dt.datetime) -> int:
    existing = conn.execute(select(AccountPlan).where(AccountPlan.account_id == account_id)).mappings().one_or_none()
    if existing is None:
        values = {**given, "account_id": account_id, "created_at": now, "updated_at": now}
        plan_id = conn.execute(insert(AccountPlan).returning(AccountPlan.id), values).scalar_one()
        _audit(conn, actor, "account_plan_create", "account_plan", plan_id, None, _shown(given), now)
        return plan_id
    changes = {k: v for k, v in given.items() if v is not None and v != existing[k]}
    if changes:
        conn.execute(update(AccountPlan).where(AccountPlan.id == existing["id"]).values(**changes, updated_at=now))
        before = {k: existing[k] for k in changes}
        _audit(conn, actor, "account_plan_update", "account_plan", existing["id"], _shown(before), _shown(changes), now)
    return existing["id"]


def _shown(values: dict) -> dict:
    """JSON-safe values for the audit log."""
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}


def _audit(conn: Connection, actor: str, action: str, entity: str, entity_id: int, before, after, now) -> None:
    record(conn, action, entity, entity_id, before, after, actor=actor, at=now)


def _plans(conn: Connection, *where, today: dt.date | None = None) -> list[dict]:
    today = today or dt.datetime.now(dt.UTC).date()
    liaison = User.__table__.alias("liaison")
    owner = User.__table__.alias("owner")
    query = (
        select(
            AccountPlan,
            Account.name.label("account"),
            Account.domain,
            liaison.c.email.label("liaison"),
            liaison.c.name.label("liaison_name"),
            owner.c.email.label("owner"),
            owner.c.name.label("owner_name"),
        )
        .join(Account, Account.id == AccountPlan.account_id)
        .outerjoin(liaison, liaison.c.id == AccountPlan.liaison_id)
        .outerjoin(owner, owner.c.id == AccountPlan.owner_id)
        .where(*where)
    )
    rows = [
        {
            "account_id": r["account_id"],
            "account": r["account"],
            "domain": r["domain"],
            "liaison": r["liaison"],
            "liaison_name": r["liaison_name"],
            "owner": r["owner"],
            "owner_name": r["owner_name"],
            "objectives": r["objectives"],
            "next_action": r["next_action"],
            "next_action_due": r["next_action_due"],
            "overdue": r["next_action_due"] is not None and r["next_action_due"] < today,
            "updated_at": r["updated_at"],
        }
        for r in conn.execute(query).mappings()
    ]
    # Soonest due first; plans without a due date last.
    return sorted(rows, key=lambda r: (r["next_action_due"] is None, r["next_action_due"] or today, r["account"]))


def list_plans(engine: Engine, *, overdue_only: bool = False, today: dt.date | None = None) -> list[dict]:
    """Every joint plan with its liaison, owner, next action and due date, soonest due first."""
    with engine.connect() as conn:
        rows = _plans(conn, today=today)
    return [r for r in rows if r["overdue"]] if overdue_only else rows


def key_accounts_without_plan(engine: Engine) -> list[dict]:
    """Key accounts nobody has planned for yet: the gap a liaison should close."""
    owner = User.__table__.alias("owner")
    with engine.connect() as conn:
        rows = conn.execute(
            select(Account.id, Account.name, Account.domain, owner.c.email.label("owner"))
            .outerjoin(AccountPlan, AccountPlan.account_id == Account.id)
            .outerjoin(owner, owner.c.id == Account.owner_id)
            .where(Account.is_key_account.is_(True), AccountPlan.id.is_(None))
            .order_by(Account.name, Account.id)
        ).all()
    return [{"account_id": r.id, "account": r.name, "domain": r.domain, "owner": r.owner} for r in rows]
