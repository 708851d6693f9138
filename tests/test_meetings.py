"""The joint meeting kept: opened from the brief's decisions needed, once per period, with its decisions."""

from __future__ import annotations

import datetime as dt

import pytest
from meeting_scene import CONFIG, EMAIL, MEETING_AT, brief_calls_for_two_decisions, lost_deals, people
from sqlalchemy import func, select

from truce.brief import render_html, render_markdown
from truce.services.brief import build_brief
from truce.services.meetings import (
    MeetingRefused,
    NotYours,
    close_decision,
    record_decision,
    show_meeting,
    start_meeting,
)
from truce.store.models import AgendaItem, AuditEntry, Decision, Meeting, MeetingAttendee


@pytest.fixture
def ids(engine):
    return people(engine)


def start(engine, actor="ria", **options):
    return start_meeting(engine, CONFIG, actor=EMAIL[actor], now=MEETING_AT, **options)


def test_it_opens_the_meeting_with_the_briefs_decisions_needed_as_its_agenda(engine, ids):
    brief_calls_for_two_decisions(engine, ids)
    meeting = start(engine, period="2026-W49", attendees=[EMAIL["lea"], EMAIL["max"]])
    assert meeting["period"] == "2026-W49"
    assert (meeting["first_day"], meeting["last_day"]) == (dt.date(2026, 11, 30), dt.date(2026, 12, 6))
    # The brief's rules, in its order: feedback waiting (marketing), then the key account without a plan (both).
    assert [(i["item"], i["rule"], i["owner_team"]) for i in meeting["agenda"]] == [
        (1, "feedback_waiting", "marketing"),
        (2, "key_accounts_without_plan", "both"),
    ]
    assert meeting["agenda"][0]["text"] == (
        "answer the 1 feedback item from the sales floor that has waited more than 14 days"
    )
    assert [a["email"] for a in meeting["attendees"]] == [EMAIL["max"], EMAIL["ria"], EMAIL["lea"]]


def test_starting_twice_for_the_same_period_returns_the_same_meeting(engine, ids):
    brief_calls_for_two_decisions(engine, ids)
    first = start(engine, period="2026-W49")
    again = start(engine, actor="lea", period="2026-W49", attendees=[EMAIL["mia"]])
    assert again["id"] == first["id"] and again["agenda"] == first["agenda"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Meeting)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(AgendaItem)).scalar_one() == 2
        attendees = conn.execute(select(func.count()).select_from(MeetingAttendee)).scalar_one()
        trail = conn.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.after).order_by(AuditEntry.id)
        ).all()
    assert attendees == 3  # ria who opened it, lea who started it again, and mia
    assert [(t.actor, t.action) for t in trail] == [
        (EMAIL["ria"], "meeting_start"),
        (EMAIL["ria"], "meeting_attend"),
        (EMAIL["lea"], "meeting_attend"),
    ]
    assert trail[2].after == {"attendees": [EMAIL["lea"], EMAIL["mia"]]}


def test_without_a_period_the_meeting_is_this_weeks(engine, ids):
    meeting = start(engine)
    assert meeting["period"] == "2026-W50" and meeting["agenda"] == []


def test_only_revops_or_a_teams_leader_holds_the_meeting(engine, ids):
    with pytest.raises(NotYours, match="RevOps or a leader"):
        start(engine, actor="eva", period="2026-W49")
    start(engine, actor="max", period="2026-W49")


@pytest.mark.parametrize(
    ("period", "field"),
    [("2026-W60", "period"), ("3000-W01", "period"), ("next week", "period"), ("2027-W10", "period")],
)
def test_a_period_that_is_no_brief_period_is_refused_by_name(engine, ids, period, field):
    with pytest.raises(MeetingRefused) as refused:
        start(engine, period=period)
    assert refused.value.field == field


def decide(engine, actor="ria", **fields):
    given = {"period": "2026-W49", "owner": EMAIL["mia"], "due": dt.date(2026, 12, 16),
             "indicator": "reasons.losses_with_reason", **fields}  # fmt: skip
    return record_decision(engine, CONFIG, actor=EMAIL[actor], now=MEETING_AT, **given)


def test_a_decision_keeps_its_indicator_as_it_stood_the_28_days_before(engine, ids):
    brief_calls_for_two_decisions(engine, ids)
    lost_deals(engine)
    start(engine, period="2026-W49")
    decided = decide(engine, item=1, text_="Marketing answers every item by Friday")
    assert decided["indicator_then"] == 0.25  # 1 of the 4 deals lost from 11 Nov to 8 Dec has a reason
    assert (decided["meeting"], decided["item"], decided["owner"], decided["state"]) == (
        "2026-W49",
        1,
        EMAIL["mia"],
        "open",
    )
    on_its_own = decide(engine, text_="Sales writes a loss reason on every lost deal", owner=EMAIL["lea"])
    assert on_its_own["item"] is None
    from_item = decide(engine, item=2)
    assert from_item["text"] == show_meeting(engine, CONFIG, period="2026-W49", now=MEETING_AT)["agenda"][1]["text"]
    with engine.connect() as conn:
        entry = conn.execute(select(AuditEntry).where(AuditEntry.action == "decision_record")).first()
    assert entry.after == {
        "meeting": "2026-W49", "item": 1, "text": "Marketing answers every item by Friday", "owner": EMAIL["mia"],
        "due_on": "2026-12-16", "indicator": "reasons.losses_with_reason", "indicator_value": 0.25, "state": "open",
    }  # fmt: skip


@pytest.mark.parametrize(("written", "due_on"), [("+0d", "2026-12-09"), ("+4d", "2026-12-13"), ("+2w", "2026-12-23")])
def test_a_due_date_can_be_written_as_days_or_weeks_from_today(engine, ids, written, due_on):
    # The meeting is held on Wednesday 2026-12-09 (MEETING_AT), so "+4d" is Sunday the 13th.
    start(engine, period="2026-W49")
    assert str(decide(engine, text_="Do it", due=written)["due_on"]) == due_on


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"owner": "nobody@yourco.example"}, "owner", "no user with email"),
        ({"owner": EMAIL["old"]}, "owner", "is not an active user"),
        ({"due": dt.date(2026, 12, 8)}, "due", "before today"),
        ({"due": "3000-01-01"}, "due", "outside the calendar"),
        ({"due": "next friday"}, "due", "is not a date"),
        ({"due": "+4x"}, "due", "or \\+4d / \\+2w from today"),
        ({"indicator": "happiness"}, "indicator", "unknown indicator"),
        ({"item": 7}, "item", "no agenda item 7"),
        ({"text_": "  "}, "text", "text cannot be blank"),
        ({"period": "2026-W48"}, "period", "no meeting for 2026-W48"),
    ],
)
def test_a_bad_decision_is_refused_naming_the_field_and_nothing_is_written(engine, ids, fields, field, message):
    start(engine, period="2026-W49")
    with pytest.raises(MeetingRefused, match=message) as refused:
        decide(engine, **{"text_": "Do it", **fields})
    assert refused.value.field == field
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Decision)).scalar_one() == 0


def test_a_seller_who_is_no_leader_records_no_decision(engine, ids):
    start(engine, period="2026-W49")
    with pytest.raises(NotYours):
        decide(engine, actor="eva", text_="Do it")


def test_the_next_brief_opens_with_the_last_meetings_decisions_and_whether_their_indicator_moved(engine, ids):
    brief_calls_for_two_decisions(engine, ids)
    lost_deals(engine)
    start(engine, period="2026-W49")
    first = decide(engine, item=1, text_="Answer <every> item | by *Friday*", owner=EMAIL["mia"])
    second = decide(
        engine, text_="Write a loss reason on every lost deal", owner=EMAIL["eva"], due=dt.date(2026, 12, 11)
    )
    close_decision(engine, CONFIG, first["id"], state="done", note="All answered", actor=EMAIL["mia"],
                   now=MEETING_AT + dt.timedelta(days=1))  # fmt: skip
    brief = build_brief(engine, CONFIG, period="2026-W50", as_of=dt.datetime(2026, 12, 14, 9, tzinfo=dt.UTC))
    last = brief["last_meeting"]
    assert last["period"] == "2026-W49"
    assert last["now_window"] == {"from": "2026-11-16", "to": "2026-12-13"}
    shown = {d["id"]: d for d in last["decisions"]}
    assert (shown[first["id"]]["state"], shown[second["id"]]["state"]) == ("done", "open")
    assert shown[second["id"]]["overdue"] is True  # due 11 December, open on the 14th
    # 1 of the 4 deals lost 11 Nov – 8 Dec had a reason; 2 of the 5 lost 16 Nov – 13 Dec.
    assert shown[first["id"]]["moved"] == {"then": 0.25, "now": 0.4, "change": 0.15, "direction": "up", "better": True}
    markdown = render_markdown(brief)
    assert markdown.index("## Last meeting's decisions") < markdown.index("## Decisions needed")
    assert "| Answer &lt;every&gt; item \\| by \\*Friday\\* | Mia | Wed 16 Dec 2026 | done |" in markdown
    assert "| Write a loss reason on every lost deal | Eva | Fri 11 Dec 2026 | open (overdue) |" in markdown
    assert "25.0% → 40.0% | up, better |" in markdown
    html = render_html(brief)
    assert "Answer &lt;every&gt; item | by *Friday*" in html and 'id="last_meeting"' in html


def test_a_brief_before_any_meeting_says_there_was_none(engine, ids):
    brief = build_brief(engine, CONFIG, period="2026-W49", as_of=MEETING_AT)
    assert brief["last_meeting"] is None and brief["initiatives"] == []
    assert "No joint meeting held yet." in render_markdown(brief)


# ---- the pages ------------------------------------------------------------------------------------


def test_revops_holds_a_meeting_on_the_pages_the_owner_marks_one_done_and_the_next_brief_shows_both(engine, ids):
    import re

    from fastapi.testclient import TestClient

    from truce.services.logins import add_user
    from truce.web.app import create_app

    brief_calls_for_two_decisions(engine, ids)
    for name in ("ria", "mia"):
        add_user(
            engine, email=EMAIL[name], team="revops" if name == "ria" else "marketing", password="pass phrase 1234"
        )

    def log_in(client, name) -> str:
        client.post("/login", data={"email": EMAIL[name], "password": "pass phrase 1234"})
        return re.search(r'name="csrf" value="([^"]+)"', client.get("/meetings?period=2026-W40").text)[1]

    app = create_app(engine, CONFIG)
    with TestClient(app, base_url="http://127.0.0.1", headers={"accept": "text/html"}) as client:
        csrf = log_in(client, "ria")
        page = client.get("/meetings?period=2026-W40").text
        assert 'id="start-meeting"' in page and "No meeting for 2026-W40 yet" in page
        started = client.post("/meetings/start", data={"csrf": csrf, "period": "2026-W40", "attendees": EMAIL["mia"]})
        assert started.status_code == 200 and 'id="decide-item-1"' in started.text
        for form in (
            {
                "item": "1",
                "text": "Answer every waiting item",
                "owner": EMAIL["mia"],
                "indicator": "feedback.answered_share",
            },
            {"text": "Plan Acme with a liaison", "owner": EMAIL["lea"], "indicator": "cold_leads.sales"},
        ):
            decided = client.post(
                "/meetings/decide", data={"csrf": csrf, "period": "2026-W40", "due": "2999-12-31", **form}
            )
            assert "recorded" in decided.text, decided.text
        refused = client.post("/meetings/decide", data={"csrf": csrf, "period": "2026-W40", "text": "x",
                                                        "owner": EMAIL["mia"], "due": "2999-12-31", "indicator": "mood"})  # fmt: skip
        assert "unknown indicator" in refused.text
        client.post("/logout", data={"csrf": csrf})
        csrf = log_in(client, "mia")
        listed = client.get("/decisions").text
        first = int(re.search(r'data-decision="(\d+)"', listed)[1])
        closed = client.post(f"/decisions/{first}/done", data={"csrf": csrf, "note": "All answered"})
        assert f"Decision #{first} is done." in closed.text
        other = client.post(f"/decisions/{first + 1}/done", data={"csrf": csrf, "note": "x"})
        assert "may not close a decision owned by" in other.text
        brief = client.get("/brief/view?period=2026-W41").text
    assert "Answer every waiting item" in brief and "Plan Acme with a liaison" in brief
    assert re.search(r'data-decision="\d+">.*?<td class="state">done</td>', brief, re.S)
