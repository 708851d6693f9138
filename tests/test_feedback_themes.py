"""Feedback themes: a small store worked out by hand, the term rules, and the demo company recounted in SQL."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections import Counter
from decimal import Decimal

import pytest
from conftest import writing
from sqlalchemy import insert

from truce.services import demo
from truce.services.feedback import (
    FeedbackRefused,
    _pattern,
    add_feedback,
    answer_feedback,
    feedback_themes,
    top_terms,
    words_and_phrases,
)
from truce.store import db
from truce.store.models import FEEDBACK_KINDS, Opportunity, User

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MARCH, APRIL = dt.date(2026, 3, 1), dt.date(2026, 4, 30)
# kind, text, linked deal (its competitor / product), created (UTC)
ITEMS = [
    ("competitor", "Castellan offers a free pilot; Castellan's pilot beats our webinar leads.", 2, "2026-03-02T09:00"),
    (
        "pricing",
        "Flowline Core list price too high against Orbital Ops, and no single sign-on.",
        None,
        "2026-03-10T09:00",
    ),
    ("product_gap", "Need single sign-on in Flowline; castellan has single sign-on.", 1, "2026-04-05T09:00"),
    ("lead_quality", "Webinar leads are students. Webinar leads never answer Castellanos.", None, "2026-04-30T23:30"),
    ("competitor", "Castellan again.", None, "2026-05-01T00:00"),  # the first moment after the period
]
DEALS = [  # id, competitor, product
    (1, "Castellan", "Flowline Core"),
    (2, "Orbital Ops", "Flowline Connect"),
    (3, None, "Flowline"),
]


@pytest.fixture
def said(engine):
    """Five items from two sellers; marketing acted on the first and acknowledged the second."""
    with writing(engine) as conn:
        for email, team in (("eva@s.example", "sales"), ("mia@m.example", "marketing")):
            conn.execute(
                insert(User),
                {"email": email, "name": email, "team": team, "active": True, "is_leader": False, "created_at": T0},
            )
        for ident, competitor, product in DEALS:
            conn.execute(
                insert(Opportunity),
                {
                    "id": ident,
                    "amount": Decimal("100"),
                    "stage": "Closed Lost",
                    "status": "lost",
                    "competitor": competitor,
                    "product": product,
                    "created_at": T0,
                    "updated_at": T0,
                },
            )
    ids = []
    for kind, text, deal, created in ITEMS:
        at = dt.datetime.fromisoformat(created).replace(tzinfo=dt.UTC)
        item = add_feedback(engine, text=text, kind=kind, author_email="eva@s.example", deal_id=deal, at=at)
        ids.append(item["id"])
    answer_feedback(engine, ids[0], status="acted_on", reply="Battle card updated", by_email="mia@m.example")
    answer_feedback(engine, ids[1], status="acknowledged", reply=None, by_email="mia@m.example")
    return ids


def test_counts_per_kind_over_the_period(engine, said):
    themes = feedback_themes(engine, start=MARCH, end=APRIL)
    assert themes["period"] == {"from": MARCH, "to": APRIL}
    assert themes["items_in_period"] == 4  # the fifth came a moment after the period ended
    assert themes["counts"] == {
        "product_gap": 1,
        "competitor": 1,
        "pricing": 1,
        "lead_quality": 1,
        "messaging": 0,
        "content_request": 0,
        "other": 0,
    }


def test_competitors_come_from_the_text_and_the_linked_deal_once_per_item(engine, said):
    themes = feedback_themes(engine, start=MARCH, end=APRIL)
    # Castellan: item 1 (text, twice: once), item 3 (text and deal 1: once). "Castellanos" is not Castellan.
    # Orbital Ops: item 1 (its deal 2), item 2 (text).
    assert themes["competitors"] == [{"name": "Castellan", "mentions": 2}, {"name": "Orbital Ops", "mentions": 2}]
    # Flowline Core: item 2 (text; the longer name wins over Flowline), item 3 (deal 1).
    # Flowline: item 3 (text). Flowline Connect: item 1 (deal 2).
    assert themes["products"] == [
        {"name": "Flowline Core", "mentions": 2},
        {"name": "Flowline", "mentions": 1},
        {"name": "Flowline Connect", "mentions": 1},
    ]


def test_terms_are_words_and_phrases_after_stopwords_and_names(engine, said):
    themes = feedback_themes(engine, start=MARCH, end=APRIL)
    # "single sign-on" is in items 2 and 3, "webinar leads" in 1 and 4: each phrase 2, and its words,
    # with the same 2 mentions, add nothing. Every other word is in one item; phrases need two.
    assert themes["terms"] == [
        {"term": "single sign-on", "mentions": 2},
        {"term": "webinar leads", "mentions": 2},
        *(
            {"term": t, "mentions": 1}
            for t in (
                "answer",
                "beats",
                "castellanos",
                "free",
                "high",
                "list",
                "need",
                "never",
                "offers",
                "pilot",
                "price",
                "students",
            )
        ),
    ]


def test_trend_answers_and_recent_items(engine, said):
    themes = feedback_themes(engine, start=MARCH, end=APRIL)
    assert themes["trend"] == [
        {"month": "2026-03", "kind": "competitor", "n": 1},
        {"month": "2026-03", "kind": "pricing", "n": 1},
        {"month": "2026-04", "kind": "lead_quality", "n": 1},
        {"month": "2026-04", "kind": "product_gap", "n": 1},
    ]
    assert themes["answered_share"] == 0.5
    assert themes["open"] == 2
    assert [i["id"] for i in themes["items"]] == said[3::-1]
    assert (themes["items"][-1]["status"], themes["items"][-1]["reply"]) == ("acted_on", "Battle card updated")


def test_without_a_period_every_item_counts(engine, said):
    themes = feedback_themes(engine)
    assert themes["period"] == {"from": None, "to": None}
    assert themes["counts"]["competitor"] == 2
    assert themes["competitors"][0] == {"name": "Castellan", "mentions": 3}
    assert themes["open"] == 3


def test_an_empty_period_has_no_answered_share(engine, said):
    themes = feedback_themes(engine, start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
    assert themes["items_in_period"] == 0
    assert themes["answered_share"] is None
    assert themes["competitors"] == themes["terms"] == themes["trend"] == themes["items"] == []


def test_it_refuses_a_period_that_ends_before_it_starts(engine):
    with pytest.raises(FeedbackRefused, match="starts on 2026-05-01 after it ends on 2026-04-01"):
        feedback_themes(engine, start=dt.date(2026, 5, 1), end=dt.date(2026, 4, 1))


# ---- the term rules, without a store --------------------------------------------------------------------


def test_stopwords_numbers_and_short_words_are_not_terms_and_break_phrases():
    assert words_and_phrases("We lost 3 deals to a 20 % price cut in Q3") == {
        "lost",
        "deals",
        "price",
        "cut",
        "price cut",
    }


def test_punctuation_and_names_break_phrases_and_possessives_fold():
    names = _pattern(["Orbital Ops"])
    assert words_and_phrases("Pricing pages, onboarding docs", names) == {
        "pricing",
        "pages",
        "pricing pages",
        "onboarding",
        "docs",
        "onboarding docs",
    }
    assert words_and_phrases("Buyers prefer Orbital Ops reporting", names) == {
        "buyers",
        "prefer",
        "buyers prefer",
        "reporting",
    }
    assert words_and_phrases("The buyer's budget") == {"buyer", "budget", "buyer budget"}


def test_a_word_stays_when_it_is_used_beyond_its_phrase():
    terms = top_terms(["security review failed", "security review pending", "security questionnaire"])
    # "review" only ever comes in "security review" (2 = 2): left out. "security" also stands alone (3).
    assert terms == [
        {"term": "security", "mentions": 3},
        {"term": "security review", "mentions": 2},
        {"term": "failed", "mentions": 1},
        {"term": "pending", "mentions": 1},
        {"term": "questionnaire", "mentions": 1},
    ]


# ---- the demo company --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_path(sqlite_template, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("feedback") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=1500, seed=5)
    engine.dispose()
    return str(path)


@pytest.mark.parametrize("period", [(None, None), ("2026-01-01", "2026-06-30")], ids=["all", "half-year"])
def test_the_demo_themes_agree_with_a_plain_sql_recount(demo_path, period):
    start, end = period
    where = "" if start is None else f" WHERE created_at >= '{start}' AND created_at < '{_next_day(end)}'"
    with sqlite3.connect(demo_path) as con:
        per_kind = dict(con.execute(f"SELECT kind, COUNT(*) FROM feedback_items{where} GROUP BY kind").fetchall())
        statuses = dict(con.execute(f"SELECT status, COUNT(*) FROM feedback_items{where} GROUP BY status").fetchall())
        known = {
            r[0] for r in con.execute("SELECT DISTINCT competitor FROM opportunities WHERE competitor IS NOT NULL")
        }
        texts = [r[0] for r in con.execute(f"SELECT text FROM feedback_items{where}")]
    engine = db.connect(f"sqlite:///{demo_path}")
    themes = feedback_themes(
        engine,
        start=dt.date.fromisoformat(start) if start else None,
        end=dt.date.fromisoformat(end) if end else None,
    )
    engine.dispose()
    assert themes["counts"] == {kind: per_kind.get(kind, 0) for kind in FEEDBACK_KINDS}
    total = sum(per_kind.values())
    assert total > 20, "the demo has feedback"
    assert themes["open"] == statuses.get("new", 0)
    assert themes["answered_share"] == pytest.approx(1 - statuses.get("new", 0) / total)
    assert sum(row["n"] for row in themes["trend"]) == total
    assert {c["name"] for c in themes["competitors"]} <= known
    # A competitor named in the text is counted at least as often as texts naming it (deals only add).
    for row in themes["competitors"]:
        assert row["mentions"] >= sum(1 for t in texts if row["name"].lower() in t.lower())
    assert themes["terms"] and all(t["mentions"] >= 1 for t in themes["terms"])
    assert len(themes["items"]) == 10
    assert any(i["reply"] for i in themes["items"]) or statuses.get("new", 0) == total


def _next_day(day: str) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()


def test_the_demo_kinds_are_the_store_kinds(demo_path):
    from truce.cli.feedback import KINDS, STATUSES
    from truce.store.models import FEEDBACK_STATUSES

    assert KINDS == FEEDBACK_KINDS
    assert STATUSES == FEEDBACK_STATUSES
    with sqlite3.connect(demo_path) as con:
        assert Counter(r[0] for r in con.execute("SELECT kind FROM feedback_items")).keys() <= set(FEEDBACK_KINDS)
