"""Owing messages about many records at once: one message per record, or one per person for a crowd.

A sweep after a long pause (or the first one on a store that waited 18 months) can take hundreds
of leads from one seller at once: one message per lead would bury the one that matters. So each
person gets one message per record when there is one, and one message naming them all when
there are more. Records claimed by a conditional update are only ever in one unit of work, so
the crowd's key (its ids) is owed once too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from truce.services.notify.outbox import owe_many
from truce.store.models import User

# Ids listed in a crowd's facts; the message says how many there were in all.
FACT_IDS = 200


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str
    link: str
    key: str
    facts: dict | None = None


def crowd_key(kind: str, what: str, ids: Iterable[int]) -> str:
    """A key naming a set of records: their number and a digest of their ids."""
    ordered = sorted(set(ids))
    digest = hashlib.sha256(",".join(map(str, ordered)).encode()).hexdigest()[:20]
    return f"{kind}:{what}:{len(ordered)}:{digest}"


def owe_each(
    conn: Connection,
    kind: str,
    by_person: dict[int | None, list[dict]],
    one: Callable[[dict], Notice],
    many: Callable[[list[dict]], Notice],
) -> int:
    """Owe each person (None: the company's channels) `one(item)` or `many(items)`; how many messages owed."""
    messages = []
    for user_id, items in sorted(by_person.items(), key=lambda pair: (pair[0] is None, pair[0] or 0)):
        if not items:
            continue
        notice = one(items[0]) if len(items) == 1 else many(items)
        key = notice.key if user_id is None else f"{notice.key}:user:{user_id}"
        messages.append(
            {"kind": kind, "to_user_id": user_id, "subject": notice.subject, "text": notice.text,
             "link": notice.link, "facts": notice.facts, "key": key}
        )  # fmt: skip
    return owe_many(conn, messages)


def sales_leaders(conn: Connection) -> list[int]:
    """The active sales leaders, who hear about their team's breaches and escalations."""
    query = select(User.id).where(User.team == "sales", User.is_leader.is_(True), User.active.is_(True))
    return list(conn.execute(query.order_by(User.id)).scalars())


def team_members(conn: Connection, team: str) -> list[int]:
    """Active members of `team` who act (viewers only read, so they are not chased)."""
    query = select(User.id).where(User.team == team, User.active.is_(True), User.access != "viewer")
    return list(conn.execute(query.order_by(User.id)).scalars())


def to_owner_and_leaders(items: list[dict], leaders: list[int], owner_key: str = "owner_id") -> dict:
    """Each item goes to its owner and to every leader; a leader who owns it hears once."""
    by_person: dict[int | None, list[dict]] = {}
    for item in items:
        for user_id in dict.fromkeys([item.get(owner_key), *leaders]):
            if user_id is not None:
                by_person.setdefault(user_id, []).append(item)
    return by_person


def emails_of(conn: Connection, user_ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({u for u in user_ids if u is not None})
    if not wanted:
        return {}
    return dict(conn.execute(select(User.id, User.email).where(User.id.in_(wanted))).all())


def listed(ids: list[int]) -> dict:
    """Facts naming records: the first FACT_IDS ids and how many in all."""
    ordered = sorted(ids)
    return {"count": len(ordered), "ids": ordered[:FACT_IDS]}
