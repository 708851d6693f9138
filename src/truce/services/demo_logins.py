"""Demo logins: one user per role with a fresh random password, so `truce demo --serve` can be tried at once.

The demo's cast logs in where it exists (Eva Lind the seller, with leads waiting in her queue;
Mia Ross the marketer; Owen Price of RevOps). In a store without them (an older demo), the seller
is the one with the most leads waiting, so the first thing they see is work to do, and the
marketer and the RevOps lead are the first users of those teams. The viewer is a new read-only user. Passwords are generated per run and shown once: only their Argon2id
hash is kept, like any other password.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Engine, func, select

from truce.demo.cast import MARKETER, REVOPS_LEAD, SELLER
from truce.services.logins import add_user
from truce.store.models import Handoff, User

VIEWER_NAME = "Demo Viewer"
CAST = {"sales": SELLER, "marketing": MARKETER, "revops": REVOPS_LEAD}


def _busiest_seller(conn) -> str | None:
    waiting = (
        select(Handoff.owner_id, func.count().label("open"))
        .where(Handoff.status == "open")
        .group_by(Handoff.owner_id)
        .subquery()
    )
    row = conn.execute(
        select(User.email)
        .outerjoin(waiting, waiting.c.owner_id == User.id)
        .where(User.team == "sales", User.active.is_(True), User.access == "member")
        .order_by(func.coalesce(waiting.c.open, 0).desc(), User.email)
    ).first()
    return row.email if row else None


def _first_of(conn, team: str) -> str | None:
    return conn.execute(
        select(User.email)
        .where(User.team == team, User.active.is_(True), User.access == "member")
        .order_by(User.is_leader.desc(), User.email)
    ).scalar()


def _cast_member(conn, role: str) -> str | None:
    from truce.demo.tables import USER_DOMAIN

    first, last = CAST[role]
    email = f"{first.lower()}.{last.lower()}@{USER_DOMAIN}"
    return conn.execute(
        select(User.email).where(User.email == email, User.team == role, User.active.is_(True), User.access == "member")
    ).scalar()


def _domain(emails: list[str | None]) -> str:
    found = next((e for e in emails if e), None)
    return found.split("@", 1)[1] if found else "truce-demo.example"


def add_demo_logins(engine: Engine, actor: str = "demo") -> list[dict]:
    """[{"role", "email", "name", "password"}] for sales, marketing, revops and viewer; passwords new each call."""
    with engine.connect() as conn:
        chosen = {
            "sales": _cast_member(conn, "sales") or _busiest_seller(conn),
            "marketing": _cast_member(conn, "marketing") or _first_of(conn, "marketing"),
            "revops": _cast_member(conn, "revops") or _first_of(conn, "revops"),
        }
    chosen["viewer"] = f"viewer@{_domain(list(chosen.values()))}"
    logins = []
    for role, email in chosen.items():
        if email is None:
            continue
        password = secrets.token_urlsafe(12)
        team, access = ("marketing", "viewer") if role == "viewer" else (role, "member")
        name = VIEWER_NAME if role == "viewer" else None
        add_user(engine, email=email, team=team, role=access, name=name, password=password, actor=actor)
        logins.append({"role": role, "email": email, "password": password})
    with engine.connect() as conn:
        names = dict(
            conn.execute(select(User.email, User.name).where(User.email.in_([x["email"] for x in logins]))).all()
        )
    return [{**login, "name": names.get(login["email"])} for login in logins]
