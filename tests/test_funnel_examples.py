"""The funnel report on tiny ledgers worked out by hand: a skip, a recycle and return within a
month, spells still open, an account with two contacts, a contact without an account, and a
conversion exactly at the end of its window."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import writing
from sqlalchemy import insert

from truce.services.funnel import ReportError, funnel_report
from truce.store.models import Account, Contact, StageChange

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")

# Account 1 (smb) has contacts 1 and 2; account 2 (enterprise) has contact 3; contact 4 has none.
ACCOUNTS = [(1, "smb"), (2, "enterprise")]
CONTACTS = [(1, 1, "webinar"), (2, 1, "paid_search"), (3, 2, "outbound"), (4, None, "event")]
# contact, from, to, when (09:00 UTC), team after the move, reason
LEDGER = [
    (1, None, "inquiry", "2026-01-05", "marketing", None),
    (1, "inquiry", "mql", "2026-01-10", "sales", None),
    (1, "mql", "recycled", "2026-01-12", "marketing", "no_budget"),  # rejected ...
    (2, None, "inquiry", "2026-01-15", "marketing", None),
    (1, "recycled", "mql", "2026-01-20", "sales", None),  # ... and back in mql the same month
    (1, "mql", "sal", "2026-01-22", "sales", None),  # still open: sal
    (2, "inquiry", "sql", "2026-02-01", "sales", None),  # skips mql and sal
    (3, None, "inquiry", "2026-02-03", "marketing", None),
    (3, "inquiry", "mql", "2026-02-04", "sales", None),
    (2, "sql", "opportunity", "2026-03-01", "sales", None),  # still open: opportunity
    (4, None, "inquiry", "2026-03-10", "marketing", None),  # still open: inquiry
    (3, "mql", "sal", "2026-05-20", "sales", None),  # 105 days after mql: outside the window
    (3, "sal", "disqualified", "2026-05-21", "marketing", None),  # leaks without a reason
]


def at(day: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), dt.UTC)


def load(engine, ledger, contacts=CONTACTS, accounts=ACCOUNTS) -> None:
    now = at("2026-01-01")
    with writing(engine) as conn:
        conn.execute(
            insert(Account),
            [
                {"id": i, "name": f"Account {i}", "segment": s, "created_at": now, "updated_at": now}
                for i, s in accounts
            ],
        )
        conn.execute(
            insert(Contact),
            [
                {
                    "id": i,
                    "email": f"c{i}@example.com",
                    "account_id": a,
                    "source_channel": ch,
                    "stage": "inquiry",
                    "created_at": now,
                    "updated_at": now,
                }
                for i, a, ch in contacts
            ],
        )
        conn.execute(
            insert(StageChange),
            [
                {
                    "id": n,
                    "entity_type": "contact",
                    "entity_id": c,
                    "from_stage": a,
                    "to_stage": b,
                    "changed_at": when if isinstance(when, dt.datetime) else at(when),
                    "team_after": team,
                    "reason": reason,
                    "origin": "cli",
                    "recorded_at": now,
                }
                for n, (c, a, b, when, team, reason) in enumerate(ledger, 1)
            ],
        )


@pytest.fixture
def example(sqlite_engine, default_config):
    load(sqlite_engine, LEDGER)
    return lambda **options: funnel_report(sqlite_engine, default_config, **options)


def rows(found: dict, *path: str, key: tuple[str, ...], value: tuple[str, ...]) -> dict:
    listed = found
    for step in path:
        listed = listed[step]
    pick = lambda r, names: r[names[0]] if len(names) == 1 else tuple(r[n] for n in names)  # noqa: E731
    return {pick(r, key): pick(r, value) for r in listed}


@pytest.mark.parametrize("backend", ["duckdb", "store"])
def test_contact_funnel_by_hand(example, backend):
    found = example(backend=backend)
    assert found["as_of"] == "2026-05-21T09:00:00+00:00"
    assert found["months"] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    # contact 1 entered mql twice in January: once in the volume
    assert rows(found, "volume", "monthly", key=("month", "stage"), value=("entered",)) == {
        ("2026-01", "inquiry"): 2,
        ("2026-01", "mql"): 1,
        ("2026-01", "recycled"): 1,
        ("2026-01", "sal"): 1,
        ("2026-02", "inquiry"): 1,
        ("2026-02", "mql"): 1,
        ("2026-02", "sql"): 1,
        ("2026-03", "opportunity"): 1,
        ("2026-03", "inquiry"): 1,
        ("2026-05", "sal"): 1,
        ("2026-05", "disqualified"): 1,
    }
    assert rows(found, "volume", "snapshot", key=("stage",), value=("count",)) == {
        "inquiry": 1,
        "sal": 1,
        "opportunity": 1,
        "disqualified": 1,
    }
    # (entered, converted, window still open); contact 2 skipped mql, so it did not convert to it
    assert rows(
        found,
        "conversion",
        "cohort",
        "monthly",
        key=("from_stage", "month"),
        value=("entered", "converted", "window_open"),
    ) == {
        ("inquiry", "2026-01"): (2, 1, 0),
        ("inquiry", "2026-02"): (1, 1, 0),
        ("inquiry", "2026-03"): (1, 0, 1),
        ("mql", "2026-01"): (1, 1, 0),
        ("mql", "2026-02"): (1, 0, 0),
        ("sal", "2026-01"): (1, 0, 0),
        ("sal", "2026-05"): (1, 0, 1),
        ("sql", "2026-02"): (1, 1, 0),
        ("opportunity", "2026-03"): (1, 0, 1),
    }
    assert rows(found, "conversion", "cohort", "total", key=("from_stage",), value=("rate",)) == {
        "inquiry": 0.5,
        "mql": 0.5,
        "sal": 0.0,
        "sql": 1.0,
        "opportunity": 0.0,
    }
    assert rows(
        found,
        "conversion",
        "period",
        "monthly",
        key=("from_stage", "month"),
        value=("entered_from", "entered_to", "rate"),
    ) == {
        ("inquiry", "2026-01"): (2, 1, 0.5),
        ("inquiry", "2026-02"): (1, 1, 1.0),
        ("inquiry", "2026-03"): (1, 0, 0.0),
        ("mql", "2026-01"): (1, 1, 1.0),
        ("mql", "2026-02"): (1, 0, 0.0),
        ("mql", "2026-05"): (0, 1, None),
        ("sal", "2026-01"): (1, 0, 0.0),
        ("sal", "2026-02"): (0, 1, None),
        ("sal", "2026-05"): (1, 0, 0.0),
        ("sql", "2026-02"): (1, 0, 0.0),
        ("sql", "2026-03"): (0, 1, None),
        ("opportunity", "2026-03"): (1, 0, 0.0),
    }
    assert found["skips"] == {
        "moves": [{"from_stage": "inquiry", "to_stage": "sql", "skipped": ["mql", "sal"], "slice": None, "moves": 1}],
        "stages": [{"stage": "mql", "slice": None, "moves": 1}, {"stage": "sal", "slice": None, "moves": 1}],
    }
    # inquiry: 1, 5 and 17 days closed, contact 4 still there; mql: 2, 2 and 105 days
    assert rows(found, "velocity", key=("stage",), value=("closed", "open", "median_days", "p75_days")) == {
        "inquiry": (3, 1, 5.0, 11.0),
        "mql": (3, 0, 2.0, 53.5),
        "recycled": (1, 0, 8.0, 8.0),
        "sal": (1, 1, 1.0, 1.0),
        "sql": (1, 0, 28.0, 28.0),
        "opportunity": (0, 1, None, None),
        "disqualified": (0, 1, None, None),
    }
    assert found["leakage"] == {
        "moves": [
            {"from_stage": "mql", "to_stage": "recycled", "reason": "no_budget", "slice": None, "moves": 1},
            {"from_stage": "sal", "to_stage": "disqualified", "reason": None, "slice": None, "moves": 1},
        ],
        "stages": [
            {"from_stage": "mql", "slice": None, "moves": 1, "without_reason": 0},
            {"from_stage": "sal", "slice": None, "moves": 1, "without_reason": 1},
        ],
    }


def test_a_team_is_credited_with_the_stage_it_held(example):
    found = example(by="team")
    assert rows(found, "volume", "total", key=("stage", "slice"), value=("entered",))[("mql", "sales")] == 2
    # inquiry → mql is marketing's conversion: mql entries count for the team that held the inquiry
    assert rows(
        found, "conversion", "period", "total", key=("from_stage", "slice"), value=("entered_from", "entered_to")
    ) == {
        ("inquiry", "marketing"): (4, 2),
        ("mql", "sales"): (2, 2),
        ("sal", "sales"): (2, 0),
        ("sal", "marketing"): (0, 1),  # contact 2 reached sql straight from marketing's inquiry
        ("sql", "sales"): (1, 1),
        ("opportunity", "sales"): (1, 0),
    }
    # leads leave from stages sales held, though the exits belong to marketing
    assert rows(found, "leakage", "stages", key=("from_stage", "slice"), value=("moves",)) == {
        ("mql", "sales"): 1,
        ("sal", "sales"): 1,
    }
    assert rows(found, "skips", "moves", key=("from_stage", "slice"), value=("moves",)) == {("inquiry", "marketing"): 1}


def test_velocity_by_channel(example):
    found = example(by="channel")
    assert rows(found, "velocity", key=("stage", "slice"), value=("closed", "open", "median_days")) == {
        ("inquiry", "event"): (0, 1, None),
        ("inquiry", "outbound"): (1, 0, 1.0),
        ("inquiry", "paid_search"): (1, 0, 17.0),
        ("inquiry", "webinar"): (1, 0, 5.0),
        ("mql", "outbound"): (1, 0, 105.0),
        ("mql", "webinar"): (2, 0, 2.0),
        ("recycled", "webinar"): (1, 0, 8.0),
        ("sal", "outbound"): (1, 0, 1.0),
        ("sal", "webinar"): (0, 1, None),
        ("sql", "paid_search"): (1, 0, 28.0),
        ("opportunity", "paid_search"): (0, 1, None),
        ("disqualified", "outbound"): (0, 1, None),
    }


@pytest.mark.parametrize("backend", ["duckdb", "store"])
def test_account_funnel_by_hand(example, backend):
    """Account 1 reaches each stage when contact 1 or 2 first does; contact 4 has no account."""
    found = example(level="account", backend=backend)
    assert rows(found, "volume", "monthly", key=("month", "stage"), value=("entered",)) == {
        ("2026-01", "inquiry"): 1,
        ("2026-01", "mql"): 1,
        ("2026-01", "recycled"): 1,
        ("2026-01", "sal"): 1,
        ("2026-02", "sql"): 1,
        ("2026-02", "inquiry"): 1,
        ("2026-02", "mql"): 1,
        ("2026-03", "opportunity"): 1,
        ("2026-05", "sal"): 1,
        ("2026-05", "disqualified"): 1,
    }
    # account 1: contact 1 in sal, contact 2 in opportunity → opportunity
    assert rows(found, "volume", "snapshot", key=("stage",), value=("count",)) == {"opportunity": 1, "disqualified": 1}
    # account 1 reached sal on 22 January and sql (by contact 2) on 1 February: converted
    assert rows(
        found,
        "conversion",
        "cohort",
        "monthly",
        key=("from_stage", "month"),
        value=("entered", "converted", "window_open"),
    ) == {
        ("inquiry", "2026-01"): (1, 1, 0),
        ("inquiry", "2026-02"): (1, 1, 0),
        ("mql", "2026-01"): (1, 1, 0),
        ("mql", "2026-02"): (1, 0, 0),
        ("sal", "2026-01"): (1, 1, 0),
        ("sal", "2026-05"): (1, 0, 1),
        ("sql", "2026-02"): (1, 1, 0),
        ("opportunity", "2026-03"): (1, 0, 1),
    }
    # the account moved recycled → sal → sql: no stage skipped at account level
    assert found["skips"] == {"moves": [], "stages": []}
    assert rows(found, "velocity", key=("stage",), value=("closed", "open", "median_days", "p75_days")) == {
        "inquiry": (2, 0, 3.0, 4.0),
        "mql": (2, 0, 53.5, 79.25),
        "recycled": (1, 0, 10.0, 10.0),
        "sal": (2, 0, 5.5, 7.75),
        "sql": (1, 0, 28.0, 28.0),
        "opportunity": (0, 1, None, None),
        "disqualified": (0, 1, None, None),
    }
    assert rows(found, "leakage", "moves", key=("from_stage", "to_stage"), value=("reason",)) == {
        ("mql", "recycled"): "no_budget",
        ("sal", "disqualified"): None,
    }


def test_an_account_takes_the_channel_of_its_first_contact(example):
    found = example(level="account", by="channel")
    assert rows(found, "volume", "snapshot", key=("stage", "slice"), value=("count",)) == {
        ("opportunity", "webinar"): 1,
        ("disqualified", "outbound"): 1,
    }
    assert rows(found, "volume", "total", key=("stage", "slice"), value=("entered",))[("sql", "webinar")] == 1


def test_a_period_counts_its_moves_and_follows_them_past_its_end(example):
    found = example(start=dt.date(2026, 2, 1), end=dt.date(2026, 2, 28))
    assert found["months"] == ["2026-02"]
    assert rows(found, "volume", "monthly", key=("stage",), value=("entered",)) == {"inquiry": 1, "mql": 1, "sql": 1}
    # where everyone stood at the end of February; contact 4 had not arrived
    assert rows(found, "volume", "snapshot", key=("stage",), value=("count",)) == {"sal": 1, "sql": 1, "mql": 1}
    # contact 2 reached opportunity on 1 March, after the period, within the window
    assert rows(found, "conversion", "cohort", "total", key=("from_stage",), value=("entered", "converted")) == {
        "inquiry": (1, 1),
        "mql": (1, 0),
        "sql": (1, 1),
    }
    assert rows(found, "velocity", key=("stage",), value=("closed", "median_days")) == {
        "inquiry": (1, 1.0),
        "mql": (1, 105.0),
        "sql": (1, 28.0),
    }
    assert found["skips"]["stages"] == [
        {"stage": "mql", "slice": None, "moves": 1},
        {"stage": "sal", "slice": None, "moves": 1},
    ]
    assert found["leakage"] == {"moves": [], "stages": []}


def test_a_move_exactly_at_the_end_of_the_window_converts(sqlite_engine, default_config):
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    load(
        sqlite_engine,
        [
            (1, None, "inquiry", start, "marketing", None),
            (2, None, "inquiry", start, "marketing", None),
            (1, "inquiry", "mql", start + dt.timedelta(days=90), "sales", None),
            (2, "inquiry", "mql", start + dt.timedelta(days=90, seconds=1), "sales", None),
        ],
    )

    def inquiries(days):
        return funnel_report(sqlite_engine, default_config, window_days=days)["conversion"]["cohort"]["total"][0]

    assert (inquiries(90)["entered"], inquiries(90)["converted"]) == (2, 1)
    assert inquiries(91)["converted"] == 2


def test_an_empty_ledger_gives_an_empty_report(sqlite_engine, default_config):
    found = funnel_report(sqlite_engine, default_config)
    assert found["as_of"] is None and found["months"] == []
    assert found["volume"] == {"monthly": [], "total": [], "snapshot": []}
    assert found["velocity"] == [] and found["conversion"]["cohort"] == {"monthly": [], "total": []}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"by": "region"}, "cannot slice by 'region'; choose one of channel, segment, team, month"),
        ({"level": "deal"}, "unknown level 'deal'"),
        ({"window_days": 0}, "window_days must be a whole number of days, at least 1"),
        (
            {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 2, 1)},
            "starts on 2026-03-01 after it ends on 2026-02-01",
        ),
        ({"backend": "bigquery"}, "unknown engine 'bigquery'; choose one of duckdb, store, spark"),
    ],
)
def test_it_refuses_options_it_cannot_use(sqlite_engine, default_config, options, message):
    with pytest.raises(ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        funnel_report(sqlite_engine, default_config, **options)
