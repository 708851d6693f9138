"""Decisions tracked to done: who may close which one, and the owners told of decisions due and overdue."""

from __future__ import annotations

import datetime as dt

import pytest
from meeting_scene import CONFIG, EMAIL, MEETING_AT, people
from sqlalchemy import func, select

from truce.services.meetings import (
    DecisionConflict,
    MeetingRefused,
    NotYours,
    close_decision,
    list_decisions,
    record_decision,
    start_meeting,
)
from truce.services.meetings.due import decisions_due
from truce.store.models import AuditEntry, OutboxMessage


@pytest.fixture
def ids(engine):
    found = people(engine)
    start_meeting(engine, CONFIG, actor=EMAIL["ria"], now=MEETING_AT, period="2026-W49", agenda=[])
    return found


def decide(engine, owner="eva", due=dt.date(2026, 12, 16), text="Call every stalled deal"):
    return record_decision(
        engine, CONFIG, period="2026-W49", text_=text, owner=EMAIL[owner], due=due,
        indicator="cold_leads.sales", actor=EMAIL["ria"], now=MEETING_AT,
    )["id"]  # fmt: skip


def close(engine, decision_id, actor, state="done", note="Done on Friday"):
    return close_decision(engine, CONFIG, decision_id, state=state, note=note, actor=EMAIL[actor], now=MEETING_AT)


@pytest.mark.parametrize("indicator", [None, "", "  "])
def test_it_refuses_a_decision_without_an_indicator_saying_it_is_required(engine, ids, indicator):
    with pytest.raises(MeetingRefused) as refused:
        record_decision(
            engine, CONFIG, period="2026-W49", text_="Call every stalled deal", owner=EMAIL["eva"],
            due=dt.date(2026, 12, 16), indicator=indicator, actor=EMAIL["ria"], now=MEETING_AT,
        )  # fmt: skip
    assert refused.value.field == "indicator"
    assert refused.value.message.startswith("required: the indicator this decision should move, one of: ")
    assert "cold_leads.sales" in refused.value.message


def test_the_cli_says_indicator_is_required_with_a_usage_error(engine, ids):
    from typer.testing import CliRunner

    from truce.cli import app

    url = engine.url.render_as_string(hide_password=False)
    done = CliRunner().invoke(app, [
        "meeting", "decide", "--text", "Call every stalled deal", "--owner", EMAIL["eva"], "--due", "2999-12-31",
        "--period", "2026-W49", "--as", EMAIL["ria"], "--db", url,
    ])  # fmt: skip
    assert done.exit_code == 2, done.output
    assert "--indicator: required: the indicator this decision should move" in " ".join(done.output.split())
    assert "unknown indicator" not in done.output


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        ("eva", True),  # the owner
        ("lea", True),  # a leader of the owner's team
        ("ria", True),  # RevOps
        ("sam", False),  # another seller
        ("max", False),  # a leader of the other team
        ("mia", False),
    ],
)
def test_the_owner_a_leader_of_their_team_or_revops_closes_a_decision(engine, ids, actor, allowed):
    decision = decide(engine)
    if allowed:
        closed = close(engine, decision, actor)
        assert (closed["state"], closed["note"], closed["closed_by"]) == ("done", "Done on Friday", EMAIL[actor])
        return
    with pytest.raises(NotYours, match=f"may not close a decision owned by {EMAIL['eva']}"):
        close(engine, decision, actor)
    assert list_decisions(engine, CONFIG, now=MEETING_AT)[0]["state"] == "open"


def test_dropping_needs_a_note_and_a_closed_decision_stays_closed(engine, ids):
    decision = decide(engine)
    with pytest.raises(MeetingRefused) as refused:
        close(engine, decision, "eva", state="dropped", note=" ")
    assert refused.value.field == "note"
    dropped = close(engine, decision, "eva", state="dropped", note="The deals closed anyway")
    assert dropped["state"] == "dropped"
    with pytest.raises(DecisionConflict, match="already dropped"):
        close(engine, decision, "ria")
    with engine.connect() as conn:
        entries = conn.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.before, AuditEntry.after).where(
                AuditEntry.entity_type == "decision", AuditEntry.action != "decision_record"
            )
        ).all()
    assert [tuple(e) for e in entries] == [
        (EMAIL["eva"], "decision_drop", {"state": "open", "note": None},
         {"state": "dropped", "note": "The deals closed anyway"}),
    ]  # fmt: skip


def test_the_list_shows_open_decisions_soonest_due_first_and_filters_by_owner(engine, ids):
    later = decide(engine, owner="mia", due=dt.date(2026, 12, 20))
    sooner = decide(engine, owner="eva", due=dt.date(2026, 12, 10))
    done = decide(engine, owner="eva", due=dt.date(2026, 12, 12))
    close(engine, done, "eva")
    assert [d["id"] for d in list_decisions(engine, CONFIG, now=MEETING_AT)] == [sooner, later]
    assert [d["id"] for d in list_decisions(engine, CONFIG, state="all", now=MEETING_AT)] == [sooner, done, later]
    assert [d["id"] for d in list_decisions(engine, CONFIG, owner=EMAIL["eva"], state="all", now=MEETING_AT)] == [
        sooner, done
    ]  # fmt: skip
    eleventh = list_decisions(engine, CONFIG, now=dt.datetime(2026, 12, 11, 9, tzinfo=dt.UTC))
    assert [(d["id"], d["overdue"]) for d in eleventh] == [(sooner, True), (later, False)]


def owed(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            (row.user_id, row.facts["decision"], row.facts["notice"], row.key)
            for row in conn.execute(select(OutboxMessage).where(OutboxMessage.kind == "decision_due").order_by(OutboxMessage.id))
        ]  # fmt: skip


def run(engine, day: dt.date, hour: int = 6) -> dict:
    return decisions_due(engine, CONFIG, dt.datetime.combine(day, dt.time(hour), dt.UTC))


def test_owners_are_reminded_the_day_before_and_told_once_when_overdue_weekends_included(engine, ids):
    # Due Monday 14 December: reminded on Sunday the 13th (calendar days: the meeting wrote a date);
    # overdue from Tuesday the 15th, told once however many days the job runs after.
    monday = decide(engine, owner="eva", due=dt.date(2026, 12, 14))
    saturday = decide(engine, owner="mia", due=dt.date(2026, 12, 12))
    dropped = decide(engine, owner="sam", due=dt.date(2026, 12, 12))
    close(engine, dropped, "sam", state="dropped", note="Not needed")
    assert run(engine, dt.date(2026, 12, 10)) == {"due_tomorrow": 0, "overdue": 0}
    assert run(engine, dt.date(2026, 12, 11)) == {"due_tomorrow": 1, "overdue": 0}  # Friday: Saturday's
    assert run(engine, dt.date(2026, 12, 11), hour=18) == {"due_tomorrow": 0, "overdue": 0}  # again: nothing new
    assert run(engine, dt.date(2026, 12, 12)) == {"due_tomorrow": 0, "overdue": 0}  # due today: not yet overdue
    assert run(engine, dt.date(2026, 12, 13)) == {"due_tomorrow": 1, "overdue": 1}  # Sunday
    assert run(engine, dt.date(2026, 12, 14)) == {"due_tomorrow": 0, "overdue": 0}
    assert run(engine, dt.date(2026, 12, 15)) == {"due_tomorrow": 0, "overdue": 1}
    assert run(engine, dt.date(2026, 12, 21)) == {"due_tomorrow": 0, "overdue": 0}
    assert owed(engine) == [
        (ids["mia"], saturday, "due_tomorrow", f"decision_due:decision:{saturday}:2026-12-12:due_tomorrow"),
        (ids["eva"], monday, "due_tomorrow", f"decision_due:decision:{monday}:2026-12-14:due_tomorrow"),
        (ids["mia"], saturday, "overdue", f"decision_due:decision:{saturday}:2026-12-12:overdue"),
        (ids["eva"], monday, "overdue", f"decision_due:decision:{monday}:2026-12-14:overdue"),
    ]


def test_a_decision_closed_before_it_falls_due_owes_nothing(engine, ids):
    decision = decide(engine, owner="eva", due=dt.date(2026, 12, 14))
    close(engine, decision, "eva")
    assert run(engine, dt.date(2026, 12, 13)) == {"due_tomorrow": 0, "overdue": 0}
    assert run(engine, dt.date(2026, 12, 20)) == {"due_tomorrow": 0, "overdue": 0}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0


# ---- the REST API ----------------------------------------------------------------------------------


@pytest.fixture
def api(engine, ids):
    from fastapi.testclient import TestClient

    from truce.services.logins import create_token
    from truce.web.app import create_app

    tokens = {
        name: {"authorization": f"Bearer {create_token(engine, email=EMAIL[name])}"} for name in EMAIL if name != "old"
    }
    with TestClient(create_app(engine, CONFIG), base_url="http://127.0.0.1") as client:
        client.tokens = tokens
        yield client


def test_the_api_records_lists_and_closes_decisions_checking_who_may(api):
    body = {"period": "2026-W49", "text": "Call every stalled deal", "owner": EMAIL["eva"], "due": "2999-12-31",
            "indicator": "cold_leads.sales"}  # fmt: skip
    assert api.post("/api/v1/decisions", json=body, headers=api.tokens["eva"]).status_code == 403  # no leader
    created = api.post("/api/v1/decisions", json=body, headers=api.tokens["lea"])
    assert created.status_code == 201, created.text
    decision = created.json()["id"]
    listed = api.get("/api/v1/decisions", params={"owner": EMAIL["eva"]}, headers=api.tokens["mia"]).json()
    assert [(d["id"], d["state"], d["due_on"]) for d in listed] == [(decision, "open", "2999-12-31")]
    refused = api.post(f"/api/v1/decisions/{decision}/done", json={"note": "done"}, headers=api.tokens["sam"])
    assert refused.status_code == 403 and EMAIL["eva"] in refused.json()["error"]
    no_note = api.post(f"/api/v1/decisions/{decision}/drop", json={}, headers=api.tokens["eva"])
    assert no_note.status_code == 422 and no_note.json()["errors"][0]["path"] == "body.note"
    done = api.post(f"/api/v1/decisions/{decision}/done", json={"note": "All called"}, headers=api.tokens["eva"])
    assert done.status_code == 200 and done.json()["state"] == "done"
    again = api.post(f"/api/v1/decisions/{decision}/drop", json={"note": "x"}, headers=api.tokens["ria"])
    assert again.status_code == 409
    meeting = api.get("/api/v1/meetings/2026-W49", headers=api.tokens["mia"]).json()
    assert [d["state"] for d in meeting["decisions"]] == ["done"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"owner": "nobody@yourco.example"}, "body.owner"),
        ({"owner": EMAIL["old"]}, "body.owner"),
        ({"due": "2026-02-30"}, "body.due"),
        ({"due": "3000-01-01"}, "body.due"),
        ({"due": "2020-01-01"}, "body.due"),
        ({"indicator": "mood"}, "body.indicator"),
        ({"item": 9}, "body.item"),
        ({"period": "2026-W77"}, "body.period"),
        ({"text": None}, "body.text"),
    ],
)
def test_the_api_answers_422_naming_the_field(api, change, path):
    body = {"period": "2026-W49", "text": "Do it", "owner": EMAIL["eva"], "due": "2999-12-31",
            "indicator": "cold_leads.sales", **change}  # fmt: skip
    answer = api.post("/api/v1/decisions", json=body, headers=api.tokens["ria"])
    assert answer.status_code == 422, answer.text
    assert [e["path"] for e in answer.json()["errors"]] == [path]


def test_starting_a_meeting_through_the_api_twice_gives_the_same_meeting(api):
    first = api.post("/api/v1/meetings", json={"period": "2026-W48"}, headers=api.tokens["max"])
    again = api.post(
        "/api/v1/meetings", json={"period": "2026-W48", "attendees": [EMAIL["mia"]]}, headers=api.tokens["ria"]
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert api.post("/api/v1/meetings", json={"period": "2026-W48"}, headers=api.tokens["mia"]).status_code == 403
    bad = api.post(
        "/api/v1/meetings",
        json={"period": "2026-W48", "attendees": ["nobody@yourco.example"]},
        headers=api.tokens["ria"],
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "body.attendees"
