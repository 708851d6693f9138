"""Scores in the store, on SQLite and PostgreSQL: explain, refresh, and rescore when touchpoints arrive."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from conftest import writing
from sqlalchemy import insert, select

from truce.config import Scoring
from truce.domain.scoring import LeadFacts, Touch, score
from truce.services import lifecycle
from truce.services import scoring as scoring_service
from truce.store.models import Account, Contact, StageChange, Touchpoint

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
RULES = Scoring.model_validate(
    {
        "threshold": 60,
        "half_life_days": 30,
        "fit": [
            {"field": "segment", "equals": "enterprise", "points": 20},
            {"field": "employees", "at_least": 200, "points": 5},
            {"field": "title", "contains": ["vp", "head of"], "points": 15},
            {"field": "industry", "one_of": ["Software"], "points": 5},
        ],
        "engagement": {"demo_request": 40, "form": 15, "webinar": 12},
    }
)


@pytest.fixture
def config(default_config):
    return default_config.model_copy(update={"scoring": RULES})


@pytest.fixture
def moves(monkeypatch):
    """A recording stand-in for lifecycle.move_contacts, one entry per contact: these tests are about scores, not the queue."""
    calls = []

    def record(conn, config, moves, to_stage, **kwargs):
        calls.extend((contact_id, to_stage, {**kwargs, "note": note}) for contact_id, note in moves)
        return []

    monkeypatch.setattr(lifecycle, "move_contacts", record)
    return calls


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def add_account(conn, name, **attributes) -> int:
    row = {"name": name, "created_at": NOW, "updated_at": NOW, **attributes}
    return conn.execute(insert(Account).returning(Account.id), row).scalar_one()


def add_contact(conn, email, stage="inquiry", **attributes) -> int:
    row = {"email": email, "stage": stage, "created_at": NOW, "updated_at": NOW, **attributes}
    return conn.execute(insert(Contact).returning(Contact.id), row).scalar_one()


def add_touch(conn, contact_id, touch_type, at) -> None:
    conn.execute(
        insert(Touchpoint),
        {"contact_id": contact_id, "channel": "web", "kind": "marketing", "touch_type": touch_type, "occurred_at": at},
    )


@pytest.fixture
def leads(engine) -> dict[str, int]:
    """Four leads whose scores under RULES are worked out by hand in the comments."""
    with writing(engine) as conn:
        big = add_account(conn, "Big Co", segment="enterprise", employees=5000, industry="Software")
        small = add_account(conn, "Small Co", segment="smb", employees=12, industry="Retail")
        ids = {
            # 20 + 5 + 15 + 5 fit; webinar a half-life ago 12 × 0.5 = 6; form today 15 → 66
            "ana": add_contact(conn, "ana@big.example", account_id=big, title="Head of Procurement"),
            # no fit; form one half-life ago 15 × 0.5 = 7.5 → 8 (half up)
            "bo": add_contact(conn, "bo@small.example", account_id=small, title="Engineer"),
            # 45 fit + demo request today 40 → 85, but sales already accepted them
            "cy": add_contact(conn, "cy@big.example", stage="sal", account_id=big, title="VP Finance"),
            # no account, no title, no touches → 0
            "di": add_contact(conn, "di@nowhere.example"),
        }
        add_touch(conn, ids["ana"], "webinar", ago(30))
        add_touch(conn, ids["ana"], "form", NOW)
        add_touch(conn, ids["bo"], "form", ago(30))
        add_touch(conn, ids["cy"], "demo_request", NOW)
    return ids


def stored_scores(engine) -> dict[str, tuple[int | None, dt.datetime | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Contact.email, Contact.score, Contact.scored_at)).all()
    return {email.split("@")[0]: (points, at) for email, points, at in rows}


def test_explain_shows_every_point_behind_a_hand_worked_score(engine, config, leads):
    result = scoring_service.explain(engine, config, " Ana@Big.example ", now=NOW)
    assert (result["email"], result["score"], result["threshold"], result["would_be_mql"]) == (
        "ana@big.example",
        66,
        60,
        True,
    )
    assert (result["fit_points"], result["engagement_points"], result["stage"]) == (45, 21, "inquiry")
    assert [(i["kind"], i["rule"], i["points"]) for i in result["items"]] == [
        ("fit", "segment equals 'enterprise'", 20),
        ("fit", "employees at least 200", 5),
        ("fit", "title contains any of 'vp', 'head of'", 15),
        ("fit", "industry is one of 'Software'", 5),
        ("engagement", "form", 15),
        ("engagement", "webinar", 6),
    ]
    assert result["items"][-1]["sentence"] == "webinar on 2026-10-24, 30 days ago: 12 × 0.500 = 6.00"
    assert result["stored_score"] is None
    json.dumps(result)  # the CLI and the API print it as it is


def test_explain_writes_nothing(engine, config, leads):
    scoring_service.explain(engine, config, "ana@big.example", now=NOW)
    assert stored_scores(engine)["ana"] == (None, None)


def test_explain_names_an_unknown_email(engine, config, leads):
    with pytest.raises(lifecycle.NotFound, match="no contact with email 'nobody@x.example'"):
        scoring_service.explain(engine, config, "nobody@x.example", now=NOW)


def test_refresh_stores_hand_worked_scores_and_hands_over_the_inquiry_that_reached_the_line(
    engine, config, leads, moves
):
    result = scoring_service.refresh(engine, config, now=NOW)
    assert stored_scores(engine) == {"ana": (66, NOW), "bo": (8, NOW), "cy": (85, NOW), "di": (0, NOW)}
    assert (result["scored"], result["changed"], result["crossed"], result["moved_to_mql"]) == (4, 4, 2, 1)
    assert moves == [
        (
            leads["ana"],
            "mql",
            {
                "at": NOW,
                "actor_id": None,
                "reason": "score",
                "note": "score 66 reached threshold 60",
                "origin": "rule",
            },
        )
    ]


def test_refresh_lets_old_engagement_decay(engine, config, leads, moves):
    scoring_service.refresh(engine, config, now=NOW)
    # 60 days later: ana's webinar is worth 12 × 0.125 = 1.5 and her form 15 × 0.25 = 3.75 → 45 + 5.25 → 50
    result = scoring_service.refresh(engine, config, now=NOW + dt.timedelta(days=60))
    assert stored_scores(engine)["ana"][0] == 50
    # bo: 15 × 0.125 = 1.875 → 2; cy: 45 + 40 × 0.25 = 55; di stays 0
    assert (result["changed"], result["crossed"]) == (3, 0)


def test_refresh_reports_progress_page_by_page(engine, config, leads, moves, monkeypatch):
    monkeypatch.setattr(scoring_service, "PAGE", 3)
    seen = []
    scoring_service.refresh(engine, config, now=NOW, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(3, 4), (4, 4)]


def test_rescore_when_a_touchpoint_arrives_changes_only_that_contact(engine, config, leads, moves):
    scoring_service.refresh(engine, config, now=NOW)
    moves.clear()
    later = NOW + dt.timedelta(days=1)
    with writing(engine) as conn:
        add_touch(conn, leads["bo"], "demo_request", later)
        moved = scoring_service.rescore(conn, config, [leads["bo"]], later)
    # bo: 15 × 0.5 ** (31 / 30) = 7.33 plus a demo request just now 40 → 47.33 → 47: still below 60
    assert moved == []
    scores = stored_scores(engine)
    assert scores["bo"] == (47, later)
    assert scores["ana"] == (66, NOW)


def test_rescore_hands_over_an_inquiry_that_crosses(engine, config, leads, moves):
    with writing(engine) as conn:
        add_touch(conn, leads["bo"], "demo_request", NOW)
        add_touch(conn, leads["bo"], "webinar", NOW)
        # 7.5 + 40 + 12 = 59.5 → 60, exactly the threshold
        moved = scoring_service.rescore(conn, config, [leads["bo"], leads["bo"], leads["di"]], NOW)
    assert moved == [leads["bo"]]
    assert moves[0][2]["note"] == "score 60 reached threshold 60"


def test_rescore_writes_nothing_when_the_callers_transaction_rolls_back(engine, config, leads, moves):
    with pytest.raises(RuntimeError):
        with writing(engine) as conn:
            scoring_service.rescore(conn, config, [leads["ana"]], NOW)
            raise RuntimeError("the import failed")
    assert stored_scores(engine)["ana"] == (None, None)


def test_refresh_gives_each_contact_the_score_the_domain_gives_one_at_a_time(engine, config, moves, monkeypatch):
    monkeypatch.setattr(scoring_service, "PAGE", 7)  # many pages, so touches are merged across page edges
    rng = random.Random(11)
    with writing(engine) as conn:
        accounts = [
            add_account(
                conn,
                f"Account {n}",
                segment=rng.choice([None, "enterprise", "smb"]),
                employees=rng.choice([None, 10, 200, 900]),
                industry=rng.choice([None, "Software", "SOFTWARE", "Retail"]),
            )
            for n in range(6)
        ]
        for n in range(60):
            contact_id = add_contact(
                conn,
                f"lead{n}@example.com",
                stage=rng.choice(["inquiry", "inquiry", "mql", "sal"]),
                account_id=rng.choice([None, *accounts]),
                title=rng.choice([None, "", "Head of IT", "vp sales", "Analyst"]),
            )
            for _ in range(rng.randrange(0, 10)):
                kind = rng.choice(["demo_request", "form", "webinar", "page_view"])
                add_touch(conn, contact_id, kind, NOW - dt.timedelta(days=rng.uniform(-5, 120)))
    scoring_service.refresh(engine, config, now=NOW)

    with engine.connect() as conn:
        contacts = (
            conn.execute(
                select(Contact, Account.segment, Account.employees, Account.industry, Account.region).outerjoin(
                    Account, Account.id == Contact.account_id
                )
            )
            .mappings()
            .all()
        )
        for contact in contacts:
            touches = conn.execute(
                select(Touchpoint.touch_type, Touchpoint.occurred_at).where(Touchpoint.contact_id == contact["id"])
            ).all()
            facts = LeadFacts(
                contact["segment"],
                contact["industry"],
                contact["region"],
                contact["employees"],
                contact["title"],
                contact["source_channel"],
            )
            expected = score(facts, [Touch(*t) for t in touches], NOW, RULES)
            assert contact["score"] == expected.points, contact["email"]
    crossing = sorted(c["id"] for c in contacts if c["stage"] == "inquiry" and c["score"] >= 60)
    assert crossing, "the random store should hold inquiries over the line"
    assert sorted(m[0] for m in moves) == crossing


def test_an_inquiry_crossing_the_line_becomes_an_mql_in_the_ledger_and_the_queue(engine, config, leads):
    """The real lifecycle.move_contact and handoff queue, not the recording stand-in."""
    pytest.importorskip("truce.services.handoff")
    from truce.store.models import Handoff

    first = scoring_service.refresh(engine, config, now=NOW)
    again = scoring_service.refresh(engine, config, now=NOW)
    assert (first["moved_to_mql"], again["moved_to_mql"], again["crossed"]) == (1, 0, 0)
    with engine.connect() as conn:
        assert conn.scalar(select(Contact.stage).where(Contact.id == leads["ana"])) == "mql"
        change = conn.execute(select(StageChange).where(StageChange.entity_id == leads["ana"])).one()
        assert (change.from_stage, change.to_stage, change.reason, change.origin, change.note) == (
            "inquiry",
            "mql",
            "score",
            "rule",
            "score 66 reached threshold 60",
        )
        assert change.changed_at == NOW
        assert conn.scalar(select(Handoff.contact_id)) == leads["ana"]
