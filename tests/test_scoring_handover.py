"""Ingested touches that lift inquiries over the line hand them to sales, routed in contact order."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import writing
from sqlalchemy import insert, select, update

from truce.config import Scoring
from truce.services import scoring as scoring_service
from truce.services.ingest import ingest
from truce.services.logins import add_user
from truce.store.models import Contact, Handoff, StageChange, User

RULES = Scoring.model_validate(
    {"threshold": 60, "half_life_days": 30, "fit": [], "engagement": {"demo_request": 40, "form": 15}}
)


@pytest.fixture
def config(default_config):
    return default_config.model_copy(update={"scoring": RULES})


@pytest.fixture
def store(engine):
    """Three active sellers, one who left, a marketer; seven leads with no account (so "any seller" routes)."""
    sellers = [add_user(engine, email=f"s{n}@yourco.example", team="sales") for n in (1, 2, 3)]
    gone = add_user(engine, email="gone@yourco.example", team="sales")
    add_user(engine, email="mia@yourco.example", team="marketing")
    now = dt.datetime.now(dt.UTC)
    with writing(engine) as conn:
        conn.execute(update(User).where(User.id == gone).values(active=False))
        stages = ["inquiry"] * 5 + ["sal", "inquiry"]
        conn.execute(
            insert(Contact),
            [
                {"email": f"lead{n}@acme.example", "stage": stage, "created_at": now, "updated_at": now}
                for n, stage in enumerate(stages)
            ],
        )
        leads = list(conn.scalars(select(Contact.id).order_by(Contact.id)))
    return engine, sellers, leads


def items(at: dt.datetime) -> list[dict]:
    """Two demo requests each for leads 0-5 (40 + 40, a minute old: 79.999 → 80), one form for lead 6 (15)."""
    moment = at.isoformat()
    touches = [(n, "demo_request") for n in range(6) for _ in range(2)] + [(6, "form")]
    return [
        {
            "external_id": f"T{i}",
            "contact_email": f"lead{n}@acme.example",
            "channel": "web",
            "touch_type": kind,
            "occurred_at": moment,
        }
        for i, (n, kind) in enumerate(touches)
    ]


def test_every_inquiry_over_the_line_is_routed_round_robin_in_contact_order(store, config, monkeypatch):
    engine, (s1, s2, s3), leads = store
    monkeypatch.setattr(scoring_service, "ID_CHUNK", 2)  # the seven leads span four chunks
    batch = items(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))

    result = ingest(engine, config, "touchpoints", batch, "ria@yourco.example")

    # Leads 0-4 reach 80; lead 5 also scores 80 but sales has it already; lead 6 scores 15.
    assert {k: result[k] for k in ("inserted", "contacts_rescored", "became_mql")} == {
        "inserted": 13,
        "contacts_rescored": 7,
        "became_mql": 5,
    }
    with engine.connect() as conn:
        handoffs = conn.execute(select(Handoff.contact_id, Handoff.owner_id, Handoff.routing_rule).order_by(Handoff.id))
        # No seller has had a lead: the lowest id first, then whoever waited longest.
        assert [tuple(h) for h in handoffs] == [
            (leads[0], s1, "any seller, round robin"),
            (leads[1], s2, "any seller, round robin"),
            (leads[2], s3, "any seller, round robin"),
            (leads[3], s1, "any seller, round robin"),
            (leads[4], s2, "any seller, round robin"),
        ]
        moves = conn.execute(
            select(
                StageChange.entity_id,
                StageChange.from_stage,
                StageChange.to_stage,
                StageChange.origin,
                StageChange.note,
            ).order_by(StageChange.id)
        )
        assert [tuple(m) for m in moves] == [
            (lead, "inquiry", "mql", "rule", "score 80 reached threshold 60") for lead in leads[:5]
        ]
        contacts = conn.execute(select(Contact.stage, Contact.owner_id, Contact.score).order_by(Contact.id))
        assert [tuple(c) for c in contacts] == [
            ("mql", s1, 80),
            ("mql", s2, 80),
            ("mql", s3, 80),
            ("mql", s1, 80),
            ("mql", s2, 80),
            ("sal", None, 80),
            ("inquiry", None, 15),
        ]


def test_sending_the_same_touches_again_hands_over_nobody_twice(store, config):
    engine, _, _ = store
    batch = items(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    ingest(engine, config, "touchpoints", batch, "ria@yourco.example")

    again = ingest(engine, config, "touchpoints", batch, "ria@yourco.example")

    assert {k: again[k] for k in ("inserted", "unchanged", "contacts_rescored", "became_mql")} == {
        "inserted": 0,
        "unchanged": 13,
        "contacts_rescored": 0,
        "became_mql": 0,
    }
    with engine.connect() as conn:
        assert len(conn.execute(select(Handoff.id)).all()) == 5
        assert len(conn.execute(select(StageChange.id)).all()) == 5
