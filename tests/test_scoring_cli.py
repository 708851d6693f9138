"""`truce score explain` and `truce score refresh`, as a user runs them."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import writing
from sqlalchemy import insert, select
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.store import db
from truce.store.models import Account, Contact, StageChange, Touchpoint

runner = CliRunner()
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def build_store(url: str, now: dt.datetime) -> None:
    """Ana scores 66 under the default truce.toml at `now`; Bo scores 0."""
    engine = db.connect(url)
    stamp = {"created_at": now, "updated_at": now}
    with writing(engine) as conn:
        account = conn.execute(
            insert(Account).returning(Account.id),
            {"name": "Big Co", "segment": "enterprise", "employees": 5000, "industry": "Software", **stamp},
        ).scalar_one()
        ana, bo = (
            conn.execute(insert(Contact).returning(Contact.id), {**row, "stage": "inquiry", **stamp}).scalar_one()
            for row in (
                {"email": "ana@big.example", "account_id": account, "title": "Head of Procurement"},
                {"email": "bo@small.example", "title": "Student"},
            )
        )
        for touch_type, at in (("webinar", now - dt.timedelta(days=30)), ("form", now)):
            conn.execute(
                insert(Touchpoint),
                {"contact_id": ana, "channel": "web", "kind": "marketing", "touch_type": touch_type, "occurred_at": at},
            )
    engine.dispose()


@pytest.fixture
def store(sqlite_url, tmp_path) -> tuple[str, str]:
    build_store(sqlite_url, NOW)
    config = tmp_path / "truce.toml"
    config.write_text(truce_config.default_text(), encoding="utf-8")
    return sqlite_url, str(config)


def test_explain_prints_every_point_and_the_verdict(store):
    url, config = store
    result = run("score", "explain", "ana@big.example", "--at", NOW.isoformat(), "--db", url, "--config", config)
    assert result.exit_code == 0, result.output
    # fit 20 (enterprise) + 5 (5,000 employees) + 15 ("head of") + 5 (Software); webinar 12 × 0.5; form 15
    assert "Score 66 reaches the MQL threshold of 60." in result.output
    for words in ("every point, and why", "segment equals", "webinar on", "12 × 0.500", "45.00", "21.00"):
        assert words in result.output


def test_explain_as_json_lists_each_rule_and_touch(store):
    url, config = store
    result = run(
        "score", "explain", "ana@big.example", "--at", NOW.isoformat(), "--db", url, "--config", config, "--json"
    )
    assert result.exit_code == 0, result.output
    explained = json.loads(result.output)
    assert (explained["score"], explained["threshold"], explained["would_be_mql"]) == (66, 60, True)
    fit = [i for i in explained["items"] if i["kind"] == "fit"]
    assert [i["points"] for i in fit] == [20, 0, 5, 15, 5]  # the default's five fit rules, in order
    assert [i["sentence"] for i in explained["items"] if i["kind"] == "engagement"] == [
        "form on 2026-11-23, 0 days ago: 15 × 1.000 = 15.00",
        "webinar on 2026-10-24, 30 days ago: 12 × 0.500 = 6.00",
    ]


def test_a_time_without_a_zone_is_utc(store):
    url, config = store
    result = run(
        "score", "explain", "ana@big.example", "--at", "2026-11-23T12:00:00", "--db", url, "--config", config, "--json"
    )
    assert json.loads(result.output)["at"] == "2026-11-23T12:00:00+00:00"


def test_explain_refuses_an_unknown_email_and_a_bad_time(store):
    url, config = store
    unknown = run("score", "explain", "nobody@example.com", "--db", url, "--config", config)
    assert unknown.exit_code == 1
    assert "no contact with email 'nobody@example.com'" in unknown.output
    bad = run("score", "explain", "ana@big.example", "--at", "yesterday", "--db", url, "--config", config)
    assert bad.exit_code == 1
    assert "--at 'yesterday' is not a date or time" in bad.output


def test_refresh_scores_everyone_and_hands_over_the_inquiry_over_the_line(sqlite_url, tmp_path):
    pytest.importorskip("truce.services.handoff")
    # refresh scores at the real clock, so the store is built around it: ana ≈ 66, far from a rounding edge
    build_store(sqlite_url, dt.datetime.now(dt.UTC))
    result = run("score", "refresh", "--db", sqlite_url, "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert (counts["scored"], counts["crossed"], counts["moved_to_mql"], counts["threshold"]) == (2, 1, 1, 60)
    engine = db.connect(sqlite_url)
    with engine.connect() as conn:
        assert dict(conn.execute(select(Contact.email, Contact.score)).all()) == {
            "ana@big.example": 66,
            "bo@small.example": 0,
        }
        assert conn.execute(select(StageChange.to_stage, StageChange.reason)).all() == [("mql", "score")]
    engine.dispose()
    again = run("score", "refresh", "--db", sqlite_url)
    assert again.exit_code == 0, again.output
    assert "Scored 2 contacts" in again.output
    assert "Inquiries moved to mql: 0." in again.output


def test_refresh_draws_a_progress_bar_on_a_big_store(sqlite_url, monkeypatch):
    from truce.cli import score

    monkeypatch.setattr(score, "BIG", 1)
    shown = []
    monkeypatch.setattr("rich.progress.Progress.update", lambda self, task, **kw: shown.append(kw))
    result = run("score", "refresh", "--db", sqlite_url)
    assert result.exit_code == 0, result.output
    assert "Scored 0 contacts" in result.output
    # touches long past, so ana (45 fit points) stays an inquiry whatever the clock says
    build_store(sqlite_url, dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
    assert run("score", "refresh", "--db", sqlite_url).exit_code == 0
    assert shown == [{"completed": 2, "total": 2}]
