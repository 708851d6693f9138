"""`truce feedback add|list|answer|themes`, run as a seller and a marketer would."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import writing
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from truce.cli import app
from truce.store import db
from truce.store.models import Account, Contact, FeedbackItem, User

runner = CliRunner()
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.fixture
def store(sqlite_url) -> str:
    engine = db.connect(sqlite_url)
    with writing(engine) as conn:
        for email, team in (("eva@s.example", "sales"), ("nick@s.example", "sales"), ("mia@m.example", "marketing")):
            conn.execute(
                insert(User),
                {"email": email, "name": email, "team": team, "active": True, "is_leader": False, "created_at": T0},
            )
        account = conn.execute(
            insert(Account).returning(Account.id), {"name": "Acme", "created_at": T0, "updated_at": T0}
        ).scalar_one()
        conn.execute(
            insert(Contact),
            {"email": "ann@acme.example", "stage": "sql", "account_id": account, "created_at": T0, "updated_at": T0},
        )
    engine.dispose()
    return sqlite_url


def items(url: str) -> int:
    engine = db.connect(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(FeedbackItem)).scalar_one()
    engine.dispose()
    return n


def test_a_seller_adds_a_line_and_gets_its_id(store):
    result = run(
        "feedback", "add", "Castellan offers a free pilot", "--kind", "competitor", "--contact", "ann@acme.example",
        "--as", "eva@s.example", "--db", store,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "feedback 1 recorded (competitor)" in result.output
    result = run("feedback", "add", "Need an ROI sheet", "--kind", "content_request", "--db", store, "--json",
                 env={"TRUCE_USER": "nick@s.example"})  # fmt: skip
    assert result.exit_code == 0, result.output
    added = json.loads(result.output)
    assert (added["id"], added["author"], added["status"]) == (2, "nick@s.example", "new")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "competitor", "--contact", "zed@acme.example"], "no contact with email 'zed@acme.example'"),
        (["--kind", "competitor", "--deal", "7"], "no deal with id 7"),
        (["--kind", "competitor", "--campaign", "7"], "no campaign with id 7"),
        (["--kind", "gossip"], "Invalid value for '--kind'"),
    ],
    ids=["contact", "deal", "campaign", "kind"],
)
def test_unknown_links_are_named_and_nothing_is_written(store, args, message):
    result = run("feedback", "add", "Something", *args, "--as", "eva@s.example", "--db", store)
    assert result.exit_code != 0
    assert message in result.output
    assert items(store) == 0


def test_adding_without_saying_who_is_refused(store):
    result = run("feedback", "add", "Something", "--kind", "other", "--db", store, env={"TRUCE_USER": ""})
    assert result.exit_code == 1
    assert "say who says it: --as EMAIL or TRUCE_USER" in result.output


def test_marketing_answers_and_the_seller_sees_it_in_the_list(store):
    run(
        "feedback",
        "add",
        "Castellan offers a free pilot",
        "--kind",
        "competitor",
        "--as",
        "eva@s.example",
        "--db",
        store,
    )
    run(
        "feedback",
        "add",
        "Webinar leads are students",
        "--kind",
        "lead_quality",
        "--as",
        "nick@s.example",
        "--db",
        store,
    )
    refused = run(
        "feedback", "answer", 1, "--status", "acted_on", "--reply", "Done", "--as", "nick@s.example", "--db", store
    )
    assert refused.exit_code == 1
    assert "only marketing or RevOps users answer feedback" in refused.output
    result = run(
        "feedback", "answer", 1, "--status", "acted_on", "--reply", "Battle card updated", "--as", "mia@m.example",
        "--db", store,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "feedback 1 is now acted_on; eva@s.example will see the reply" in result.output
    backwards = run("feedback", "answer", 1, "--status", "acknowledged", "--as", "mia@m.example", "--db", store)
    assert backwards.exit_code == 1
    assert "a status never moves back" in backwards.output
    mine = json.loads(run("feedback", "list", "--mine", "--as", "eva@s.example", "--db", store, "--json").output)
    assert [(i["id"], i["status"], i["reply"], i["replied_by"]) for i in mine] == [
        (1, "acted_on", "Battle card updated", "mia@m.example")
    ]
    table = run("feedback", "list", "--mine", "--as", "eva@s.example", "--db", store)
    assert table.exit_code == 0, table.output
    assert "Battle" in table.output and "updated" in table.output  # wrapped in its column
    open_ones = json.loads(run("feedback", "list", "--status", "new", "--db", store, "--json").output)
    assert [i["id"] for i in open_ones] == [2]


def test_mine_needs_to_know_who_you_are(store):
    result = run("feedback", "list", "--mine", "--db", store, env={"TRUCE_USER": ""})
    assert result.exit_code == 1
    assert "--mine needs to know who you are" in result.output


def test_an_unknown_item_is_named(store):
    result = run("feedback", "answer", 99, "--status", "acknowledged", "--as", "mia@m.example", "--db", store)
    assert result.exit_code == 1
    assert "no feedback item with id 99" in result.output


def test_themes_print_bars_and_json(store):
    for text, kind in (
        ("Castellan offers a free pilot", "competitor"),
        ("Castellan cut prices", "pricing"),
        ("Webinar leads are students", "lead_quality"),
    ):
        run("feedback", "add", text, "--kind", kind, "--as", "eva@s.example", "--db", store)
    data = json.loads(run("feedback", "themes", "--db", store, "--json").output)
    assert data["counts"]["competitor"] == 1 and data["counts"]["pricing"] == 1
    assert data["open"] == 3
    # No deal names Castellan, so it is not a known competitor: it shows up as a term instead.
    assert data["competitors"] == []
    assert {"term": "castellan", "mentions": 2} in data["terms"]
    result = run("feedback", "themes", "--from", "2020-01-01", "--db", store)
    assert result.exit_code == 0, result.output
    assert "Items per kind" in result.output and "█" in result.output
    assert "[new]" in result.output  # the recent items keep their status, not eaten as markup


def test_themes_refuse_a_bad_date(store):
    result = run("feedback", "themes", "--from", "last week", "--db", store)
    assert result.exit_code == 1
    assert "--from 'last week' is not a date" in result.output
    result = run("feedback", "themes", "--from", "2026-05-01", "--to", "2026-04-01", "--db", store)
    assert result.exit_code == 1
    assert "starts on 2026-05-01 after it ends on 2026-04-01" in result.output
