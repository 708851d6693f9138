"""Users and their roles, for RevOps: who is in which team, who leads, who only reads.

`people` lists every user with what RevOps decides about them; `change_user` sets a user's team,
access (member or viewer) and whether they lead their team — one audited write. Taking access
back (deactivate, activate, end sessions) is truce.services.revocation, which this module does not
repeat. RevOps cannot change their own team or access here: one slip would lock the last
administrator out; another RevOps member (or `truce user add`) does it.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select, update

from truce.services.logins import Who
from truce.services.records import InvalidField
from truce.store.models import ACCESS, TEAMS, Account, Campaign, User
from truce.store.work import unit_of_work


class UserChangeRefused(ValueError):
    """A change to a user the rules do not allow; the message says which rule."""


def people(engine: Engine) -> list[dict]:
    """Every user, active first, then by team and name, with how much they own."""
    with engine.connect() as conn:
        accounts = dict(conn.execute(select(Account.owner_id, func.count()).group_by(Account.owner_id)).all())
        campaigns = dict(conn.execute(select(Campaign.owner_id, func.count()).group_by(Campaign.owner_id)).all())
        rows = conn.execute(select(User).order_by(User.active.desc(), User.team, User.name, User.id)).all()
    return [
        {
            "id": u.id,
            "email": u.email,
            "name": u.name,
            "team": u.team,
            "access": u.access,
            "leader": bool(u.is_leader),
            "active": bool(u.active),
            "marketing_focus": u.marketing_focus,
            "can_log_in": u.password_hash is not None,
            "accounts_owned": accounts.get(u.id, 0),
            "campaigns_owned": campaigns.get(u.id, 0),
        }  # fmt: skip
        for u in rows
    ]


def change_user(
    engine: Engine, user_id: int, *, team: str, access: str, leader: bool, by: Who, origin: str = "web"
) -> dict:
    """Set a user's team, access and leadership; audited as `user_update` with the fields that changed."""
    if team not in TEAMS:
        raise InvalidField("team", f"team: unknown team {team!r}; choose one of {', '.join(TEAMS)}")
    if access not in ACCESS:
        raise InvalidField("access", f"access: unknown access {access!r}; choose member or viewer")
    with unit_of_work(engine, by.email, origin) as work:
        conn = work.conn
        found = conn.execute(select(User).where(User.id == user_id)).mappings().one_or_none()
        if found is None:
            raise LookupError(f"no user with id {user_id}")
        wanted = {"team": team, "access": access, "is_leader": bool(leader)}
        changed = {k: v for k, v in wanted.items() if found[k] != v}
        if found["id"] == by.id and ({"team", "access"} & set(changed)):
            raise UserChangeRefused(
                "you cannot change your own team or access: another RevOps member does it, so truce always "
                "keeps an administrator"
            )
        if changed:
            conn.execute(update(User).where(User.id == user_id).values(**changed))
            work.record(
                "user_update", "user", user_id, {k: found[k] for k in changed}, {"email": found["email"], **changed}
            )
    return {"id": user_id, "email": found["email"], "changed": changed}
