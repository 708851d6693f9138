"""The playbook's moves as tracked initiatives: indicators at the start and now, and the survey score since."""

from __future__ import annotations

import datetime as dt

import pytest
from meeting_scene import CONFIG, EMAIL, lost_deals, people
from sqlalchemy import func, select

from truce.brief import render_markdown
from truce.services import survey
from truce.services.brief import build_brief
from truce.services.meetings import MeetingRefused, NotYours, adopt_initiative, list_initiatives
from truce.services.meetings.initiatives import score_change
from truce.store.models import AuditEntry, Initiative

ADOPTED_AT = dt.datetime(2026, 10, 20, 9, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 12, 14, 9, tzinfo=dt.UTC)  # "now" is the 90 days to yesterday, Sunday 13 December
# Deals lost: the 90 days before the start on 1 November (3 Aug – 31 Oct) hold three, one with a reason;
# the 90 days to 13 December (15 Sep – 13 Dec) hold three, two with a reason.
LOST = (
    (dt.date(2026, 8, 10), "price"),
    (dt.date(2026, 9, 1), None),
    (dt.date(2026, 10, 1), None),
    (dt.date(2026, 11, 10), "timing"),
    (dt.date(2026, 12, 1), "competitor"),
)


@pytest.fixture
def ids(engine):
    found = people(engine)
    lost_deals(engine, LOST)
    return found


def adopt(engine, actor="ria", **fields):
    given = {"move": "key_account_liaison", "owner": EMAIL["max"], "start": dt.date(2026, 11, 1),
             "indicators": ["reasons.losses_with_reason"], **fields}  # fmt: skip
    return adopt_initiative(engine, CONFIG, actor=EMAIL[actor], now=ADOPTED_AT, **given)


def test_an_initiative_shows_its_indicators_at_the_start_and_now(engine, ids):
    adopted = adopt(engine, note="Max names a liaison for each of the 12 key accounts")
    assert adopted["indicators"][0]["then"] == 0.3333  # 1 of 3, measured when adopted (before the start)
    shown = list_initiatives(engine, CONFIG, now=NOW)
    assert [(i["move"], i["owner"], i["started_on"], i["state"]) for i in shown] == [
        ("key_account_liaison", EMAIL["max"], dt.date(2026, 11, 1), "active")
    ]
    assert shown[0]["now_window"] == {"from": dt.date(2026, 9, 15), "to": dt.date(2026, 12, 13)}
    assert shown[0]["indicators"] == [
        {"key": "reasons.losses_with_reason", "label": "Lost deals with a reason", "better_when": "higher",
         "then": 0.3333, "now": 0.6667, "change": 0.3334, "direction": "up", "better": True}
    ]  # fmt: skip
    with engine.connect() as conn:
        entry = conn.execute(select(AuditEntry).where(AuditEntry.action == "initiative_adopt")).one()
    assert (entry.actor, entry.entity_type) == (EMAIL["ria"], "initiative")
    assert entry.after == {
        "move": "key_account_liaison", "owner": EMAIL["max"], "started_on": "2026-11-01",
        "indicators": ["reasons.losses_with_reason"], "baseline": {"reasons.losses_with_reason": 0.3333},
        "state": "active", "note": "Max names a liaison for each of the 12 key accounts",
    }  # fmt: skip


def test_without_indicators_it_takes_the_moves_own(engine, ids):
    adopted = adopt(engine, indicators=[])
    assert [i["key"] for i in adopted["indicators"]] == ["cold_leads.marketing", "cold_leads.sales"]
    assert [(i["then"], i["now"], i["direction"]) for i in adopted["indicators"]] == [
        (0, 0, "same"), (0, 0, "same")
    ]  # fmt: skip


def test_only_revops_adopts_an_initiative(engine, ids):
    with pytest.raises(NotYours, match="RevOps adopts"):
        adopt(engine, actor="lea")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"move": "free_lunch"}, "move"),
        ({"owner": EMAIL["old"]}, "owner"),
        ({"start": "2026-13-01"}, "start"),
        ({"start": None}, "start"),
        ({"indicators": ["reasons.losses_with_reason", "mood"]}, "indicators"),
    ],
)
def test_a_bad_initiative_is_refused_naming_the_field(engine, ids, fields, field):
    with pytest.raises(MeetingRefused) as refused:
        adopt(engine, **fields)
    assert refused.value.field == field
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Initiative)).scalar_one() == 0


def answer(engine, round_name, ratings_by_person):
    for name, rating in ratings_by_person.items():
        team = "marketing" if name in ("max", "mia") else "sales"
        survey.record_response(engine, round_name=round_name, respondent_email=EMAIL[name], team=team,
                               role="staff", ratings=[rating] * 20, actor=EMAIL[name])  # fmt: skip


def test_the_survey_score_change_is_from_the_round_before_the_start_to_the_latest_since(engine, ids):
    answer(engine, "2026-Q3", {"eva": 3, "sam": 3, "mia": 3})  # 60, 60, 60: 60.0 (ended before 1 November)
    answer(engine, "2026-Q4", {"eva": 5, "sam": 5, "mia": 5})  # 100.0, but Q4 holds the start: neither side
    answer(engine, "2026-12", {"eva": 4, "sam": 4, "mia": 3})  # 80, 80, 60: 73.3 (began after the start)
    adopt(engine)
    report = survey.survey_report(engine, CONFIG, "2026-12", now=NOW)
    assert report["initiatives"][0]["score"] == {
        "round_before": "2026-Q3", "score_before": 60.0, "round_after": "2026-12", "score_after": 73.3, "change": 13.3,
    }  # fmt: skip


def test_no_round_after_the_start_means_no_score_change_yet():
    rounds = [{"round": "2026-Q3", "from": dt.date(2026, 7, 1), "to": dt.date(2026, 9, 30), "score": 60.0}]
    assert score_change(rounds, dt.date(2026, 11, 1))["change"] is None
    assert score_change([], dt.date(2026, 11, 1))["round_before"] is None


def test_the_brief_shows_active_initiatives_with_their_indicators(engine, ids):
    adopt(engine)
    brief = build_brief(engine, CONFIG, period="2026-W50", as_of=NOW)
    assert [(i["move"], i["indicators"][0]["then"], i["indicators"][0]["now"]) for i in brief["initiatives"]] == [
        ("key_account_liaison", 0.3333, 0.6667)
    ]
    markdown = render_markdown(brief)
    assert (
        "| Name a marketing liaison for each key account, with a joint account plan | Max | Sun 1 Nov 2026 "
        "| Lost deals with a reason | 33.3% → 66.7% | up, better | no round on both sides of the start yet |"
    ) in markdown


def test_the_survey_report_and_page_show_each_initiative_with_the_score_change(engine, ids):
    import re

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from truce.cli import app as cli
    from truce.services.logins import add_user
    from truce.web.app import create_app

    answer(engine, "2026-Q3", {"eva": 3, "sam": 3, "mia": 3})  # 60.0 before the start on 1 November
    answer(engine, "2026-12", {"eva": 4, "sam": 4, "mia": 3})  # (80 + 80 + 60) / 3 = 73.3 since
    adopt(engine)
    move = "Name a marketing liaison for each key account"
    url = engine.url.render_as_string(hide_password=False)
    shown = CliRunner().invoke(cli, ["survey", "report", "--round", "2026-12", "--db", url], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    table = shown.output[shown.output.index("Moves adopted: did they work?") :]
    assert move in table and "60.0 → 73.3 (+13.3)" in table and "Lost deals with a reason" in table

    add_user(engine, email=EMAIL["ria"], team="revops", password="pass phrase 1234")
    with TestClient(create_app(engine, CONFIG), base_url="http://127.0.0.1", headers={"accept": "text/html"}) as client:
        client.post("/login", data={"email": EMAIL["ria"], "password": "pass phrase 1234"})
        page = client.get("/survey?round=2026-12").text
    section = page[page.index('id="initiatives"') :]
    row = re.search(r'<tr data-initiative="\d+">(.*?)</tr>', section, re.S)[1]
    assert move in row and "60.0 → 73.3 (+13.3)" in row and "Lost deals with a reason" in row
