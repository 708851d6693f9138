"""A small company for marketing's pages, written row by row, with every answer worked out by hand.

Campaigns (cost spread evenly over its days, both ends included):

    id  name                channel         cost       days                     in 2026-Q1
    1   SEO and blog        organic_search  9,000.00   1 Jan – 31 Mar (90 d)     9,000.00
    2   LinkedIn lead gen   paid_social     3,050.00   1 Mar – 30 Apr (61 d)     3,050 × 31 / 61 = 1,550.00
    3   Spring webinar      webinar         2,000.00   1 Apr – 30 Apr            0
    4   Brand terms         paid_search     1,200.00   1 Feb – 28 Feb            1,200.00

Contacts: one marketing touch each, from their campaign, ten days before their deal closes.

    contact  campaign  deal    amount   closes
    c1       1         won     10,000   2026-02-10
    c2       1         won      2,000   2026-03-05
    c3       2         won     15,000   2026-03-20
    c4       4         won      1,000   2026-02-25
    c5       4         won      1,500   2026-03-01
    c6       4         won        500   2026-03-02
    c7       3         won     40,000   2026-05-10   (Q2)
    c8       1         won      5,000   2026-04-05   (Q2)
    c9       1         lost     7,000   2026-03-15

2026-Q1, won, first touch (one touch per journey, so every model agrees):
    SEO and blog / organic_search   2 conversions  12,000   shares: conversions 2/6 = 33.3 %, revenue 12/30 = 40.0 %
    LinkedIn lead gen / paid_social 1 conversion   15,000   16.7 %, 50.0 %
    Brand terms / paid_search       3 conversions   3,000   50.0 %, 10.0 %
    total                           6              30,000
All time adds Spring webinar (1, 40,000) and one more SEO and blog deal (5,000).

Stage moves (source channel as the touch's): inquiry on 5 Jan (organic c1 c2 c8 c9), 6 Jan
(paid_search c4 c5 c6), 7 Jan (paid_social c3); MQL on 20 Jan (c1 c2) and 25 Jan (c4 c5 c6);
SAL on 1 Feb (c1). So inquiry → MQL: organic 2 of 4, paid search 3 of 3, paid social 0 of 1, all
5 of 8; MQL → SAL: organic 1 of 2, paid search 0 of 3.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from conftest import writing
from sqlalchemy import insert

from truce import config as truce_config
from truce.services.logins import add_user
from truce.store.models import Campaign, Contact, Opportunity, StageChange, Touchpoint

PASSWORD = "marketing pages 4 tests"
MARKETER = "mia@truce.example"
D = dt.date

CAMPAIGNS = [
    (1, "SEO and blog", "organic_search", "9000.00", D(2026, 1, 1), D(2026, 3, 31)),
    (2, "LinkedIn lead gen", "paid_social", "3050.00", D(2026, 3, 1), D(2026, 4, 30)),
    (3, "Spring webinar", "webinar", "2000.00", D(2026, 4, 1), D(2026, 4, 30)),
    (4, "Brand terms", "paid_search", "1200.00", D(2026, 2, 1), D(2026, 2, 28)),
]
DEALS = [  # contact, campaign, status, amount, close date
    ("c1", 1, "won", 10_000, D(2026, 2, 10)),
    ("c2", 1, "won", 2_000, D(2026, 3, 5)),
    ("c3", 2, "won", 15_000, D(2026, 3, 20)),
    ("c4", 4, "won", 1_000, D(2026, 2, 25)),
    ("c5", 4, "won", 1_500, D(2026, 3, 1)),
    ("c6", 4, "won", 500, D(2026, 3, 2)),
    ("c7", 3, "won", 40_000, D(2026, 5, 10)),
    ("c8", 1, "won", 5_000, D(2026, 4, 5)),
    ("c9", 1, "lost", 7_000, D(2026, 3, 15)),
]
MOVES = {  # contact: [(stage, day)]
    "c1": [("inquiry", D(2026, 1, 5)), ("mql", D(2026, 1, 20)), ("sal", D(2026, 2, 1))],
    "c2": [("inquiry", D(2026, 1, 5)), ("mql", D(2026, 1, 20))],
    "c8": [("inquiry", D(2026, 1, 5))],
    "c9": [("inquiry", D(2026, 1, 5))],
    "c4": [("inquiry", D(2026, 1, 6)), ("mql", D(2026, 1, 25))],
    "c5": [("inquiry", D(2026, 1, 6)), ("mql", D(2026, 1, 25))],
    "c6": [("inquiry", D(2026, 1, 6)), ("mql", D(2026, 1, 25))],
    "c3": [("inquiry", D(2026, 1, 7))],
}


def config():
    """truce's defaults with first touch as the attribution model (one touch per journey: any model agrees)."""
    text = truce_config.default_text().replace('model = "markov"', 'model = "first_touch"', 1)
    return truce_config.parse(text, "truce.toml")


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def build(engine) -> None:
    channel = {c[0]: c[2] for c in CAMPAIGNS}
    with writing(engine) as conn:
        conn.execute(
            insert(Campaign),
            [{"id": i, "name": name, "channel": ch, "actual_cost": Decimal(cost), "starts_on": first, "ends_on": last,
              "owning_team": "marketing"} for i, name, ch, cost, first, last in CAMPAIGNS],  # fmt: skip
        )
        for n, (contact, campaign, status, amount, closes) in enumerate(DEALS, start=1):
            stages = MOVES.get(contact, [])
            created = at(D(2026, 1, 1), 8)
            conn.execute(
                insert(Contact),
                {"id": n, "email": f"{contact}@example.com", "stage": stages[-1][0] if stages else "inquiry",
                 "source_channel": channel[campaign], "created_at": created, "updated_at": created},
            )  # fmt: skip
            conn.execute(
                insert(Touchpoint),
                {"contact_id": n, "campaign_id": campaign, "channel": channel[campaign], "kind": "marketing",
                 "touch_type": "form", "occurred_at": at(closes - dt.timedelta(days=10))},
            )  # fmt: skip
            conn.execute(
                insert(Opportunity),
                {"id": n, "name": f"Deal {contact}", "primary_contact_id": n, "amount": Decimal(amount),
                 "stage": {"won": "Closed Won", "lost": "Closed Lost"}[status], "status": status,
                 "created_at": at(closes - dt.timedelta(days=5)), "close_date": closes, "updated_at": at(closes)},
            )  # fmt: skip
            before = None
            for stage, day in stages:
                conn.execute(
                    insert(StageChange),
                    {"entity_type": "contact", "entity_id": n, "from_stage": before, "to_stage": stage,
                     "changed_at": at(day), "origin": "test", "recorded_at": at(day)},
                )  # fmt: skip
                before = stage
    add_user(engine, email=MARKETER, team="marketing", name="Mia", password=PASSWORD)
