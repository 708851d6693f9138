"""The people and records the meeting, decision and initiative tests share (not a test file)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from conftest import writing
from sqlalchemy import insert

from truce import config as truce_config
from truce.store.models import Account, FeedbackItem, Opportunity, User

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
T0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
# Wednesday 9 December 2026, 10:00 UTC: the meeting of 2026-W50 (7–13 December) is held.
MEETING_AT = dt.datetime(2026, 12, 9, 10, tzinfo=dt.UTC)
PEOPLE = {  # name: (team, leader, active)
    "ria": ("revops", False, True),
    "lea": ("sales", True, True),
    "eva": ("sales", False, True),
    "sam": ("sales", False, True),
    "max": ("marketing", True, True),
    "mia": ("marketing", False, True),
    "old": ("sales", False, False),
}
EMAIL = {name: f"{name}@yourco.example" for name in PEOPLE}


def people(engine) -> dict[str, int]:
    ids = {}
    with writing(engine) as conn:
        for name, (team, leader, active) in PEOPLE.items():
            ids[name] = conn.execute(
                insert(User).returning(User.id),
                {"email": EMAIL[name], "name": name.title(), "team": team, "is_leader": leader, "active": active,
                 "created_at": T0},
            ).scalar_one()  # fmt: skip
    return ids


def brief_calls_for_two_decisions(engine, ids) -> None:
    """A feedback item waiting since October and a key account without a plan: two decisions needed."""
    with writing(engine) as conn:
        conn.execute(
            insert(FeedbackItem),
            {"kind": "pricing", "text": "Castellan cut its price", "author_id": ids["eva"], "status": "new",
             "created_at": dt.datetime(2026, 10, 1, tzinfo=dt.UTC)},
        )  # fmt: skip
        conn.execute(
            insert(Account),
            {"name": "Acme", "domain": "acme.example", "is_key_account": True, "created_at": T0, "updated_at": T0},
        )


# Deals lost (close date, loss reason): in the 28 days before 9 December (11 Nov – 8 Dec) one of four
# has a reason, 25 %; in the 28 days to Sunday 13 December, the end of 2026-W50 (16 Nov – 13 Dec), two
# of five, 40 %.
LOST = (
    (dt.date(2026, 11, 15), "price"),
    (dt.date(2026, 11, 20), None),
    (dt.date(2026, 11, 25), None),
    (dt.date(2026, 12, 1), " "),  # a blank reason is no reason
    (dt.date(2026, 12, 10), "timing"),
    (dt.date(2026, 12, 12), "competitor"),
)


def lost_deals(engine, lost=LOST) -> None:
    with writing(engine) as conn:
        for n, (closed, reason) in enumerate(lost):
            conn.execute(
                insert(Opportunity),
                {"name": f"Deal {n}", "amount": Decimal("1000.00"), "stage": "closed_lost", "status": "lost",
                 "close_date": closed, "loss_reason": reason, "created_at": T0, "updated_at": T0},
            )  # fmt: skip
