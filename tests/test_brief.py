"""The joint revenue-meeting brief: its period, its numbers against the services', its decisions, its files."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import re
import shutil
from decimal import Decimal

import pytest
from conftest import writing
from sqlalchemy import insert, select, text
from typer.testing import CliRunner

from truce import config as truce_config
from truce.brief import render_html, render_markdown
from truce.brief.render import TITLES
from truce.cli import app
from truce.services import account_plans, custody, economics, feedback, funnel, sla_report, survey, targets
from truce.services import brief as brief_service
from truce.services import demo as demo_service
from truce.services.brief import BriefError, build_brief, default_period, parse_period, plain, stalled_deals
from truce.store import db
from truce.store.models import (
    Account,
    Contact,
    FeedbackItem,
    Handoff,
    Opportunity,
    SlaEvent,
    StageChange,
    Target,
    Touchpoint,
    User,
)

runner = CliRunner()
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
AS_OF = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
WEEK_END = dt.datetime(2026, 11, 23, 0, 0, tzinfo=dt.UTC)  # the first moment after 2026-W47, UTC


# ---- the period ----------------------------------------------------------------------------------


def test_an_iso_week_runs_monday_to_sunday_between_midnights_in_the_company_zone():
    week = parse_period("2026-W47", "UTC")
    assert (week.label, week.kind, week.first_day, week.last_day) == (
        "2026-W47",
        "week",
        dt.date(2026, 11, 16),
        dt.date(2026, 11, 22),
    )
    assert week.start_at == dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    assert week.end_at == dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    tokyo = parse_period("2026-w47", "Asia/Tokyo")  # UTC+9, no daylight saving
    assert tokyo.start_at == dt.datetime(2026, 11, 15, 15, tzinfo=dt.UTC)
    assert tokyo.end_at == dt.datetime(2026, 11, 22, 15, tzinfo=dt.UTC)


def test_a_week_with_the_autumn_clock_change_lasts_169_hours():
    # Berlin leaves summer time at 03:00 CEST on Sunday 25 October 2026: 2026-W43 is 19–25 October.
    week = parse_period("2026-W43", "Europe/Berlin")
    assert (week.first_day, week.last_day) == (dt.date(2026, 10, 19), dt.date(2026, 10, 25))
    assert week.start_at == dt.datetime(2026, 10, 18, 22, tzinfo=dt.UTC)  # midnight CEST, UTC+2
    assert week.end_at == dt.datetime(2026, 10, 25, 23, tzinfo=dt.UTC)  # midnight CET, UTC+1
    assert week.as_dict()["hours"] == 169
    # New York leaves summer time a week later, on Sunday 1 November: 2026-W44 is 26 October – 1 November.
    week = parse_period("2026-W44", "America/New_York")
    assert week.start_at == dt.datetime(2026, 10, 26, 4, tzinfo=dt.UTC)  # EDT, UTC−4
    assert week.end_at == dt.datetime(2026, 11, 2, 5, tzinfo=dt.UTC)  # EST, UTC−5


def test_a_week_with_the_spring_clock_change_lasts_167_hours():
    week = parse_period("2026-W13", "Europe/Berlin")  # summer time starts Sunday 29 March 2026
    assert (week.first_day, week.last_day) == (dt.date(2026, 3, 23), dt.date(2026, 3, 29))
    assert week.start_at == dt.datetime(2026, 3, 22, 23, tzinfo=dt.UTC)
    assert week.end_at == dt.datetime(2026, 3, 29, 22, tzinfo=dt.UTC)
    assert week.as_dict()["hours"] == 167


@pytest.mark.parametrize(
    ("written", "label", "first", "last", "previous"),
    [
        ("2026-W01", "2026-W01", dt.date(2025, 12, 29), dt.date(2026, 1, 4), "2025-W52"),
        ("2026-W53", "2026-W53", dt.date(2026, 12, 28), dt.date(2027, 1, 3), "2026-W52"),
        ("2026-11", "2026-11", dt.date(2026, 11, 1), dt.date(2026, 11, 30), "2026-10"),
        ("2026-01", "2026-01", dt.date(2026, 1, 1), dt.date(2026, 1, 31), "2025-12"),
        ("2026-Q4", "2026-Q4", dt.date(2026, 10, 1), dt.date(2026, 12, 31), "2026-Q3"),
        ("2026-q1", "2026-Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31), "2025-Q4"),
        ("2026", "2026", dt.date(2026, 1, 1), dt.date(2026, 12, 31), "2025"),
    ],
)
def test_it_reads_weeks_months_quarters_and_years_and_knows_the_one_before(written, label, first, last, previous):
    period = parse_period(written, "Europe/Berlin")
    assert (period.label, period.first_day, period.last_day) == (label, first, last)
    assert period.previous().label == previous
    assert period.previous().end_at == period.start_at


@pytest.mark.parametrize("written", ["2027-W53", "2026-W00", "2026-W60", "2026-13", "W47", "last week", ""])
def test_it_refuses_what_is_not_a_period(written):
    with pytest.raises(BriefError, match="week|period"):
        parse_period(written, "UTC")


def _stage_change(engine, at: dt.datetime) -> None:
    with writing(engine) as conn:
        contact = conn.execute(
            insert(Contact).returning(Contact.id),
            {"email": f"c{at:%m%d}@x.example", "stage": "mql", "created_at": at, "updated_at": at},
        ).scalar_one()
        conn.execute(
            insert(StageChange),
            {"entity_type": "contact", "entity_id": contact, "to_stage": "mql", "changed_at": at, "origin": "cli",
             "recorded_at": at},
        )  # fmt: skip


def test_by_default_it_covers_the_last_complete_week_or_the_week_of_the_latest_stage_change(sqlite_engine):
    monday = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)
    period, why = default_period(sqlite_engine, "UTC", monday)  # an empty store
    assert period.label == "2026-W47" and why == "the last complete ISO week"
    # A Sunday evening in Berlin is already Monday in Tokyo: "last week" is the company's.
    sunday = dt.datetime(2026, 11, 29, 20, tzinfo=dt.UTC)
    assert default_period(sqlite_engine, "Europe/Berlin", sunday)[0].label == "2026-W47"
    assert default_period(sqlite_engine, "Asia/Tokyo", sunday)[0].label == "2026-W48"
    _stage_change(sqlite_engine, dt.datetime(2026, 11, 19, 23, tzinfo=dt.UTC))
    assert default_period(sqlite_engine, "UTC", monday)[0].label == "2026-W47"
    # Weeks later, the store has not moved since 19 November: the brief covers the week that holds it.
    period, why = default_period(sqlite_engine, "UTC", dt.datetime(2027, 1, 12, tzinfo=dt.UTC))
    assert period.label == "2026-W47" and "latest stage change" in why


def test_a_period_that_has_not_started_is_refused(sqlite_engine):
    with pytest.raises(BriefError, match="has not started"):
        build_brief(sqlite_engine, CONFIG, period="2026-W49", as_of=AS_OF)


# ---- the demo company ----------------------------------------------------------------------------


def _users(engine, team: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(User.email).where(User.team == team, User.active.is_(True)).order_by(User.email)
            ).scalars()
        )


def enrich_demo(engine) -> None:
    """What the demo leaves out: a survey round both teams answered, and two joint account plans."""
    sellers, marketers, revops = _users(engine, "sales"), _users(engine, "marketing"), _users(engine, "revops")
    for team, people in (("sales", sellers[:4]), ("marketing", marketers[:4])):
        for number, email in enumerate(people):
            ratings = [3 + (number % 2)] * 20
            ratings[0] = 5 if team == "sales" else 2  # they see statement 1 very differently
            survey.record_response(
                engine, round_name="2026-Q4", respondent_email=email, team=team, role=survey.respondent(engine, email)["role"], ratings=ratings,
                at=dt.datetime(2026, 11, 10, tzinfo=dt.UTC),
            )  # fmt: skip
    with engine.connect() as conn:
        keys = conn.execute(select(Account.id).where(Account.is_key_account.is_(True)).order_by(Account.id)).scalars()
        keys = list(keys)
    for account, due, action in (
        (keys[0], dt.date(2026, 11, 18), "Joint workshop"),
        (keys[1], dt.date(2026, 12, 10), "QBR"),
    ):
        account_plans.set_plan(
            engine, account=account, liaison_email=marketers[0], owner_email=sellers[0],
            objectives="Expand to the second plant", next_action=action, next_action_due=due, actor=revops[0],
        )  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory, sqlite_template):
    path = tmp_path_factory.mktemp("brief") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo_service.build(engine, contacts=1500, seed=3)
    enrich_demo(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def brief(demo) -> dict:
    return build_brief(demo, CONFIG, period="2026-W47", as_of=AS_OF)


def test_the_brief_has_every_section_and_every_service_behind_it(brief):
    assert list(brief["sections"]) == list(brief_service.SECTIONS)
    missing = {name: s.get("reason") for name, s in brief["sections"].items() if not s["available"]}
    assert missing == {}
    assert brief["period"]["label"] == "2026-W47" and brief["previous"]["label"] == "2026-W46"
    assert brief["period"]["complete"] is True
    assert brief["as_of"] == WEEK_END.isoformat()
    assert json.loads(json.dumps(brief)) == brief  # plain JSON, nothing else


def test_targets_are_the_target_services(demo, brief):
    expected = targets.targets_report(demo, CONFIG, as_of=dt.date(2026, 11, 22))["targets"]
    assert brief["sections"]["targets"]["rows"] == plain(expected)
    assert {(r["metric"], r["period"]) for r in brief["sections"]["targets"]["rows"]} >= {("revenue", "2026-Q4")}


def test_funnel_movement_is_the_funnel_reports_for_this_week_and_the_last(demo, brief):
    rows = {r["stage"]: r for r in brief["sections"]["funnel"]["rows"]}
    for days, column in (((16, 22), "entered"), ((9, 15), "previous")):
        report = funnel.funnel_report(demo, CONFIG, start=dt.date(2026, 11, days[0]), end=dt.date(2026, 11, days[1]))
        entered = {r["stage"]: r["entered"] for r in report["volume"]["total"]}
        assert {stage: row[column] for stage, row in rows.items()} == {s: entered.get(s, 0) for s in rows}
    assert sum(r["entered"] for r in rows.values()) > 0
    conversion = brief["sections"]["funnel"]["conversion"]
    first = conversion[0]
    assert (first["from_stage"], first["to_stage"]) == ("inquiry", "mql")
    assert first["rate"] == first["entered_to"] / first["entered_from"]
    assert first["entered_from"] == rows["inquiry"]["entered"] and first["entered_to"] == rows["mql"]["entered"]


def test_sla_breaches_are_the_sla_reports(demo, brief):
    report = sla_report.report(demo, CONFIG, now=WEEK_END, start=dt.date(2026, 11, 16), end=dt.date(2026, 11, 22))
    sales = brief["sections"]["sla"]["sales"]
    for promise in ("first_touch", "decision"):
        assert sales[promise] == report["sales"][promise]
    expected = (
        report["sales"]["first_touch"]["breached"]
        + report["sales"]["decision"]["breached"]
        + report["sales"]["too_few_attempts"]
    )
    assert sales["breaches"] == expected > 0
    marketing = brief["sections"]["sla"]["marketing"]
    months = report["marketing"]["by_month"]
    assert marketing["accepted"] == sum(m["accepted"] for m in months)
    assert marketing["rejected"] == sum(m["rejected"] for m in months)
    assert marketing["mqls"] == sum(m["mqls"] for m in months) == report["sales"]["handoffs"]


def test_cold_leads_are_custodys_leads_that_went_cold_in_each_week(demo, brief):
    leads = custody.cold_leads(demo, CONFIG, now=WEEK_END)["leads"]
    rows = {r["team"]: r for r in brief["sections"]["cold_leads"]["by_team"]}
    for team in ("marketing", "sales"):
        went = [dt.datetime.fromisoformat(lead["went_cold_at"]) for lead in leads if lead["team"] == team]
        assert rows[team]["went_cold"] == sum(1 for at in went if WEEK_END - dt.timedelta(days=7) <= at < WEEK_END)
        assert rows[team]["previous"] == sum(
            1 for at in went if WEEK_END - dt.timedelta(days=14) <= at < WEEK_END - dt.timedelta(days=7)
        )
        assert rows[team]["cold_at_end"] == len(went)


STALLED_SQL = text(
    """
    SELECT o.id, o.amount FROM opportunities o
    WHERE o.created_at < :end
      AND (o.status = 'open' OR o.close_date IS NULL OR o.close_date > :last_day)
      AND julianday(:end) - julianday(max(
            o.created_at,
            coalesce((SELECT max(t.occurred_at) FROM touchpoints t
                      WHERE t.contact_id = o.primary_contact_id AND t.occurred_at < :end), o.created_at),
            coalesce((SELECT max(t.occurred_at) FROM touchpoints t JOIN contacts c ON c.id = t.contact_id
                      WHERE coalesce(t.account_id, c.account_id) = o.account_id AND t.occurred_at < :end), o.created_at),
            coalesce((SELECT max(s.changed_at) FROM stage_changes s
                      WHERE s.entity_type = 'opportunity' AND s.entity_id = o.id AND s.changed_at < :end), o.created_at)
          )) >= :days
    """
)


def _recount(engine, end_at: dt.datetime, days: int) -> tuple[set[int], Decimal]:
    """Stalled deals counted again, in SQLite's own SQL, one deal at a time."""
    params = {
        "end": end_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "last_day": (end_at - dt.timedelta(days=1)).date().isoformat(),
        "days": days,
    }
    with engine.connect() as conn:
        rows = conn.execute(STALLED_SQL, params).all()
    return {r.id for r in rows}, sum((Decimal(str(r.amount)) for r in rows), Decimal("0.00"))


@pytest.mark.parametrize(
    ("end_at", "days"),
    [
        (WEEK_END, 30),
        (WEEK_END, 14),
        (dt.datetime(2026, 6, 1, tzinfo=dt.UTC), 30),
        (dt.datetime(2026, 9, 7, tzinfo=dt.UTC), 21),
        (dt.datetime(2025, 12, 1, tzinfo=dt.UTC), 10),
    ],
)
def test_stalled_deals_match_a_plain_sql_recount(demo, end_at, days):
    found = stalled_deals(demo, end_at=end_at, last_day=(end_at - dt.timedelta(days=1)).date(), days=days)
    ids, amount = _recount(demo, end_at, days)
    assert {d["id"] for d in found["deals"]} == ids
    assert found["amount"] == amount
    assert all(d["quiet_days"] >= days for d in found["deals"])


def test_the_brief_counts_the_stalled_deals_of_its_week(demo, brief):
    stalled = brief["sections"]["stalled"]
    ids, amount = _recount(demo, WEEK_END, CONFIG.brief.stalled_after_days)
    assert stalled["count"] == len(ids) and {d["id"] for d in stalled["deals"]} == ids
    assert Decimal(stalled["amount"]) == amount
    assert stalled["stalled_after_days"] == 30


def test_feedback_themes_are_the_feedback_services_over_the_window_shown(demo, brief):
    section = brief["sections"]["feedback"]
    window = section["window"]
    assert (
        section["items_in_period"]
        == feedback.feedback_themes(demo, CONFIG, start=dt.date(2026, 11, 16), end=dt.date(2026, 11, 22))[
            "items_in_period"
        ]
    )
    assert window["widened"] == (section["items_in_period"] < brief_service.MIN_FEEDBACK_ITEMS)
    themes = feedback.feedback_themes(
        demo, CONFIG, start=dt.date.fromisoformat(window["from"]), end=dt.date.fromisoformat(window["to"])
    )
    assert section["items_in_window"] == themes["items_in_period"]
    assert {c["kind"]: c["count"] for c in section["counts"]} == {k: n for k, n in themes["counts"].items() if n}
    assert section["answered_share"] == themes["answered_share"] and section["open"] == themes["open"]
    assert all(item["reply"] for item in section["answers"])
    with demo.connect() as conn:  # still new, given at least 15 days before Sunday 22 November
        waiting = conn.execute(
            select(FeedbackItem.id).where(
                FeedbackItem.status == "new", FeedbackItem.created_at < dt.datetime(2026, 11, 8, tzinfo=dt.UTC)
            )
        ).all()
    assert section["waiting"] == len(waiting) > 0


def test_campaign_results_are_roi_by_campaign_over_the_window_shown(demo, brief):
    section = brief["sections"]["campaigns"]
    window = section["window"]
    assert window["widened"] and window["to"] == "2026-11-22" and window["from"] == "2026-08-25"
    with demo.connect() as conn:
        won = conn.execute(
            text("SELECT count(*) FROM opportunities WHERE status = 'won' AND close_date BETWEEN :a AND :b"),
            {"a": "2026-11-16", "b": "2026-11-22"},
        ).scalar_one()
    assert section["won_deals_in_period"] == won < brief_service.MIN_WON_DEALS
    roi = economics.roi_report(
        demo,
        CONFIG,
        model=CONFIG.attribution.model,
        by="campaign",
        start=dt.date(2026, 8, 25),
        end=dt.date(2026, 11, 22),
    )
    assert section["totals"] == roi["totals"] and section["model"] == CONFIG.attribution.model
    by_revenue = sorted((r for r in roi["rows"] if r["revenue"]), key=lambda r: -r["revenue"])[:5]
    assert [r["key"] for r in section["top_by_revenue"]] == [r["key"] for r in by_revenue]
    assert [r["revenue"] for r in section["top_by_revenue"]] == [r["revenue"] for r in by_revenue]


def test_the_diagnostic_is_the_latest_survey_round(demo, brief):
    section = brief["sections"]["diagnostic"]
    report = survey.survey_report(demo, CONFIG, now=WEEK_END)
    assert section["round"] == report["round"] == "2026-Q4"
    assert section["company"] == report["company"]
    assert section["gaps"] == report["gaps"][:5]
    assert section["gaps_over"] == [g for g in report["gaps"] if abs(g["gap"]) > 1]
    assert section["gaps_over"][0]["statement"] == report["gaps"][0]["statement"]
    assert section["gaps_over"][0]["gap"] == 3.0


def test_key_accounts_joint_plans_appear_with_the_overdue_action(demo, brief):
    section = brief["sections"]["account_plans"]
    assert section["plans"] == plain(account_plans.list_plans(demo, today=dt.date(2026, 11, 23)))
    actions = {p["next_action"]: p for p in section["plans"]}
    assert actions["Joint workshop"]["overdue"] is True and actions["QBR"]["overdue"] is False
    assert actions["Joint workshop"]["liaison"] and actions["Joint workshop"]["owner"]
    assert section["overdue"] == sum(1 for p in section["plans"] if p["overdue"]) >= 1
    assert len(section["key_accounts_without_plan"]) == len(account_plans.key_accounts_without_plan(demo))


def test_the_demo_week_calls_for_decisions_with_their_numbers(brief):
    found = {d["rule"]: d for d in brief["decisions"]}
    assert {"sales_sla_breaches", "perception_gap", "account_plan_overdue", "feedback_waiting"} <= set(found)
    breaches = brief["sections"]["sla"]["sales"]["breaches"]
    assert found["sales_sla_breaches"]["value"] == breaches
    assert f"{breaches} SLA breaches in 2026-W47" in found["sales_sla_breaches"]["text"]
    assert found["feedback_waiting"]["value"] == brief["sections"]["feedback"]["waiting"]
    assert all(d["owner"] in ("sales", "marketing", "both") for d in brief["decisions"])


# ---- the files -----------------------------------------------------------------------------------

PLOTLY_SCRIPT = re.compile(r'<script id="plotly-js">.*?</script>', re.DOTALL)


@pytest.fixture(scope="module")
def page(brief) -> str:
    return render_html(brief)


def test_the_html_inlines_plotly_once_and_points_nowhere(page):
    assert page.count('<script id="plotly-js">') == 1
    assert len(re.findall(r"plotly\.js v\d", page)) == 1  # the library's banner, once
    own = PLOTLY_SCRIPT.sub("", page)
    assert "http://" not in own and "https://" not in own
    assert not re.search(r"<(link|img|iframe|object|embed)\b", own, re.IGNORECASE)
    assert not re.search(r"@import|url\(", own)
    for attribute in re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', own):
        assert attribute == "" or attribute.startswith(("#", "data:")), attribute
    assert re.findall(r"<script(?! id=\"plotly-js\")[^>]*\bsrc=", page) == []
    assert own.count('class="plotly-graph-div"') >= 6


def test_the_html_allows_its_own_inline_scripts_and_styles_and_nothing_else(page):
    """Its Content-Security-Policy (a <meta>) names each inline script and stylesheet by its hash:
    a script added by anything else, e.g. a name that escaped escaping, would not run."""
    policy = html.unescape(re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)[1])
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'" and "unsafe" not in policy
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, re.DOTALL)
    styles = re.findall(r"<style[^>]*>(.*?)</style>", page, re.DOTALL)
    assert len(scripts) == 2 and len(styles) == 1
    digest = lambda text: "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"  # noqa: E731
    assert directives["script-src"].split() == [digest(text) for text in scripts]
    assert digest(styles[0]) in directives["style-src"].split()


def _key_numbers(brief: dict) -> list[str]:
    """Strings both renderings must show: decisions, funnel entries, breaches, money."""
    s = brief["sections"]
    found = [d["text"][1:] for d in brief["decisions"]]  # the page starts each with a capital
    found += [f"{r['label']}" for r in s["funnel"]["rows"]]
    found += [f"Breaches: sales {s['sla']['sales']['breaches']}, marketing {s['sla']['marketing']['breaches']}."]
    found += [f"{Decimal(r['amount']):,.0f}" for r in s["targets"]["rows"]]
    found += [f"{Decimal(r['forecast']):,.0f}" for r in s["targets"]["rows"]]
    found += [f"{Decimal(s['stalled']['amount']):,.0f}"]
    found += [p["next_action"] for p in s["account_plans"]["plans"]]
    found += [f"{r['revenue']:,.0f}" for r in s["campaigns"]["top_by_revenue"]]
    return found


def _text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def shown_markdown(markdown: str) -> str:
    """The text a reader sees once a CommonMark renderer (with GitHub's tables) has rendered it."""
    from markdown_it import MarkdownIt

    return _text_of(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))


def test_html_and_markdown_show_the_same_key_numbers(brief, page):
    markdown = render_markdown(brief)
    text_of_markdown = shown_markdown(markdown)
    text_of_page = _text_of(PLOTLY_SCRIPT.sub("", page))
    for wanted in _key_numbers(brief):
        assert re.sub(r"\s+", " ", wanted) in text_of_markdown, wanted
        assert re.sub(r"\s+", " ", wanted) in text_of_page, wanted
    for row in brief["sections"]["funnel"]["rows"]:
        label = f"{row['label']} (exit)" if row["exit"] else row["label"]
        change = f"+{row['change']}" if row["change"] > 0 else (f"−{-row['change']}" if row["change"] else "0")
        assert f"| {label} | {row['team']} | {row['entered']} | {row['previous']} | {change} |" in markdown


def test_a_window_in_which_no_campaign_earned_revenue_says_so_and_charts_the_spend(brief):
    import copy

    quiet = copy.deepcopy(brief)
    section = quiet["sections"]["campaigns"]
    spent = [dict(r, revenue=0) for r in section["top_by_spend"]]
    assert spent, "the demo week's campaigns had spend"
    section["top_by_revenue"] = []
    section["top_by_spend"] = spent
    markdown = render_markdown(quiet)
    assert "Top campaigns by attributed revenue: none earned attributed revenue in this window." in markdown
    page = render_html(quiet)
    assert "No campaign earned attributed revenue in this window." in page
    # Every table the brief writes has rows: no header standing over nothing.
    for table in re.findall(r"<table>(.*?)</table>", page, re.S):
        assert "<td" in table, table[:200]
    chart = re.search(r'<section id="campaigns".*?</section>', page, re.S).group(0)
    assert "data-figure" in chart or "plotly" in chart.lower(), "the spend is charted when nothing earned"


def test_markdown_is_a_document_of_tables_without_charts(brief):
    markdown = render_markdown(brief)
    assert markdown.startswith("# Joint revenue meeting — 2026-W47\n")
    headings = re.findall(r"^## (.+)$", markdown, re.MULTILINE)
    assert headings == list(TITLES.values())
    assert "<script" not in markdown and "plotly" not in markdown.lower()


# ---- decisions from small stores built by hand --------------------------------------------------

T0 = dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC)
PEOPLE = [
    ("eva@s.example", "sales"),
    ("nick@s.example", "sales"),
    ("sam@s.example", "sales"),
    ("mia@m.example", "marketing"),
    ("ola@m.example", "marketing"),
    ("pia@m.example", "marketing"),
    ("rex@r.example", "revops"),
]
# Each rule's number just past its threshold ("fires") and at it ("holds").
FIRES = {
    "breaches": 4,  # more than 3
    "accepted": 3,
    "rejected": 2,  # 60 % of 5 decided, below 70 %
    "target": Decimal("5000.01"),  # the forecast is the 5,000.00 already won
    "quiet_deals": 2,  # plus the deal quiet for exactly 30 days: 3 stalled
    "cold_now": 4,
    "cold_before": 1,  # up 3
    "waiting_since": dt.datetime(2026, 11, 7, 23, tzinfo=dt.UTC),  # 15 days before Sunday 22 November
    "sales_rating": 5,  # marketing rates statement 1 at 3: a gap of 2
    "plan_due": dt.date(2026, 11, 20),  # before Monday 23 November
    "key_account_without_plan": True,
}
HOLDS = {
    "breaches": 3,
    "accepted": 7,
    "rejected": 3,  # exactly 70 %
    "target": Decimal("5000.00"),
    "quiet_deals": 1,
    "cold_now": 3,
    "cold_before": 1,  # up 2
    "waiting_since": dt.datetime(2026, 11, 8, 0, 30, tzinfo=dt.UTC),
    "sales_rating": 4,  # a gap of exactly 1
    "plan_due": dt.date(2026, 11, 23),
    "key_account_without_plan": False,
}


def _rows(conn, table, rows: list[dict]) -> list[int]:
    return [conn.execute(insert(table).returning(table.id), row).scalar_one() for row in rows]


def _account(conn, name: str, key: bool = False) -> int:
    return _rows(conn, Account, [{"name": name, "is_key_account": key, "created_at": T0, "updated_at": T0}])[0]


def _contact(conn, email: str, stage: str, created: dt.datetime, account: int | None = None) -> int:
    row = {"email": email, "stage": stage, "account_id": account, "created_at": created, "updated_at": created}
    return _rows(conn, Contact, [row])[0]


def _deal(conn, name: str, account: int, created: dt.datetime, **extra) -> int:
    row = {"name": name, "account_id": account, "amount": Decimal("1000.00"), "stage": "Qualification",
           "status": "open", "created_at": created, "updated_at": created, **extra}  # fmt: skip
    return _rows(conn, Opportunity, [row])[0]


def small_store(engine, spec: dict) -> None:
    """A company of seven people whose week 2026-W47 puts each decision rule's number where `spec` says."""
    with writing(engine) as conn:
        ids = {
            email: _rows(conn, User, [{"email": email, "name": email[:3], "team": team, "active": True,
                                       "is_leader": False, "created_at": T0}])[0]
            for email, team in PEOPLE
        }  # fmt: skip
        _handoffs(conn, spec, ids["eva@s.example"])
        _deals(conn, spec)
        for n in range(spec["cold_now"]):  # no activity since 3 November: cold on the 17th
            _contact(conn, f"now{n}@cold.example", "inquiry", dt.datetime(2026, 11, 3, 10, tzinfo=dt.UTC))
        for n in range(spec["cold_before"]):  # cold on 10 November, in 2026-W46
            _contact(conn, f"before{n}@cold.example", "inquiry", dt.datetime(2026, 10, 27, 10, tzinfo=dt.UTC))
        author, replier = ids["eva@s.example"], ids["mia@m.example"]
        _rows(conn, FeedbackItem, [
            {"kind": "pricing", "text": "Wants monthly billing", "author_id": author, "status": "new",
             "created_at": spec["waiting_since"]},
            {"kind": "competitor", "text": "Brightwave is cheaper", "author_id": author, "status": "acted_on",
             "reply": "Battle card updated", "replied_by_id": replier, "replied_at": T0, "created_at": T0},
        ])  # fmt: skip
        _rows(conn, Target, [{"metric": "revenue", "team": None, "period_start": dt.date(2026, 10, 1),
                              "period_end": dt.date(2026, 12, 31), "amount": spec["target"], "created_at": T0}])  # fmt: skip
        key = _account(conn, "Key One", key=True)
        if spec["key_account_without_plan"]:
            _account(conn, "Key Two", key=True)
    account_plans.set_plan(
        engine, account=key, liaison_email="mia@m.example", owner_email="eva@s.example",
        next_action="Joint workshop", next_action_due=spec["plan_due"], actor="rex@r.example",
    )  # fmt: skip
    for email, team in PEOPLE[:6]:
        ratings = [3] * 20
        ratings[0] = spec["sales_rating"] if team == "sales" else 3
        survey.record_response(engine, round_name="2026-Q4", respondent_email=email, team=team, role=survey.respondent(engine, email)["role"],
                               ratings=ratings, at=T0)  # fmt: skip


def _handoffs(conn, spec: dict, seller: int) -> None:
    """MQLs of Tuesday 17 November, decided that day; the first `breaches` touched late."""
    mql = dt.datetime(2026, 11, 17, 9, tzinfo=dt.UTC)
    first_due, decision_due = mql + dt.timedelta(hours=4), mql + dt.timedelta(hours=24)
    statuses = ["accepted"] * spec["accepted"] + ["rejected"] * spec["rejected"]
    for n, status in enumerate(statuses):
        contact = _contact(conn, f"mql{n}@lead.example", "sal", dt.datetime(2026, 11, 16, 8, tzinfo=dt.UTC))
        handoff = _rows(conn, Handoff, [{
            "contact_id": contact, "mql_at": mql, "owner_id": seller, "status": status,
            "first_touch_due_at": first_due, "decision_due_at": decision_due, "sla_due_at": first_due,
            "decided_at": mql + dt.timedelta(hours=6), "decided_by_id": seller,
            "rejection_reason": "no_budget" if status == "rejected" else None,
            "attempts": 1, "created_at": mql, "updated_at": mql,
        }])[0]  # fmt: skip
        if n < spec["breaches"]:
            _rows(conn, SlaEvent, [{"handoff_id": handoff, "contact_id": contact, "side": "sales",
                                    "kind": "first_touch_late", "user_id": seller, "due_at": first_due,
                                    "detected_at": first_due + dt.timedelta(hours=1)}])  # fmt: skip


def _deals(conn, spec: dict) -> None:
    quiet = _account(conn, "Quiet Co")
    for n in range(spec["quiet_deals"]):
        _deal(conn, f"Quiet {n}", quiet, T0)
    _deal(conn, "Exactly 30 days", quiet, WEEK_END - dt.timedelta(days=30))
    _deal(conn, "Not quite 30 days", quiet, WEEK_END - dt.timedelta(days=30) + dt.timedelta(hours=1))
    busy = _account(conn, "Busy Co")
    _deal(conn, "Touched through a colleague", busy, T0)
    colleague = _contact(conn, "colleague@busy.example", "opportunity", T0, account=busy)
    _rows(conn, Touchpoint, [{"contact_id": colleague, "channel": "sales_call", "kind": "sales", "touch_type": "call",
                              "occurred_at": dt.datetime(2026, 11, 20, 15, tzinfo=dt.UTC)}])  # fmt: skip
    won = _account(conn, "Won Co")
    _deal(conn, "Won in November", won, dt.datetime(2026, 10, 1, tzinfo=dt.UTC), amount=Decimal("5000.00"),
          stage="Closed Won", status="won", close_date=dt.date(2026, 11, 10))  # fmt: skip


RULES = {
    "sales_sla_breaches": ("sales", 4),
    "marketing_acceptance": ("marketing", 0.6),
    "forecast_below_target": ("both", "5000.00"),
    "stalled_deals": ("sales", 3),
    "cold_leads_growing": ("marketing", 3),
    "feedback_waiting": ("marketing", 1),
    "perception_gap": ("both", 2.0),
    "account_plan_overdue": ("both", 1),
    "key_accounts_without_plan": ("both", 1),
}


def test_each_rule_calls_for_a_decision_once_its_number_crosses_the_threshold(engine):
    small_store(engine, FIRES)
    found = build_brief(engine, CONFIG, period="2026-W47", as_of=AS_OF)
    assert found["sections"]["targets"]["rows"][0]["forecast"] == "5000.00"
    decisions = {d["rule"]: d for d in found["decisions"]}
    assert set(decisions) == set(RULES)
    assert len(found["decisions"]) == len(RULES)
    for rule, (owner, value) in RULES.items():
        assert (decisions[rule]["owner"], decisions[rule]["value"]) == (owner, value), rule
    assert "4 SLA breaches in 2026-W47" in decisions["sales_sla_breaches"]["text"]
    assert "(3 of 5)" in decisions["marketing_acceptance"]["text"]
    assert [d["name"] for d in found["sections"]["stalled"]["deals"]] == ["Quiet 0", "Quiet 1", "Exactly 30 days"]
    assert "4 went cold in 2026-W47 against 1 in 2026-W46" in decisions["cold_leads_growing"]["text"]
    assert "Key Two" in decisions["key_accounts_without_plan"]["text"]


def test_no_rule_calls_for_a_decision_at_its_threshold(engine):
    small_store(engine, HOLDS)
    found = build_brief(engine, CONFIG, period="2026-W47", as_of=AS_OF)
    s = found["sections"]
    assert found["decisions"] == []
    assert s["sla"]["sales"]["breaches"] == 3
    assert s["sla"]["marketing"]["acceptance_rate"] == 0.7 and s["sla"]["marketing"]["acceptance_judged"]
    assert s["targets"]["rows"][0]["forecast"] == s["targets"]["rows"][0]["amount"] == "5000.00"
    assert s["stalled"]["count"] == 2
    assert {r["team"]: r["change"] for r in s["cold_leads"]["by_team"]}["marketing"] == 2
    assert s["feedback"]["waiting"] == 0
    assert abs(s["diagnostic"]["gaps"][0]["gap"]) == 1.0
    assert s["account_plans"]["overdue"] == 0 and s["account_plans"]["key_accounts_without_plan"] == []
    page = render_html(found)
    assert "Nothing crossed a threshold this period." in page and page.count('<script id="plotly-js">') == 1


def test_marketing_acceptance_is_not_judged_on_fewer_than_five_decisions(engine):
    small_store(engine, {**HOLDS, "accepted": 0, "rejected": 4, "breaches": 0})
    found = build_brief(engine, CONFIG, period="2026-W47", as_of=AS_OF)
    marketing = found["sections"]["sla"]["marketing"]
    assert marketing["acceptance_rate"] == 0 and not marketing["acceptance_judged"]
    assert "marketing_acceptance" not in {d["rule"] for d in found["decisions"]}


# ---- the command ---------------------------------------------------------------------------------


def test_the_command_writes_html_and_prints_the_data_as_json(demo, tmp_path):
    out = tmp_path / "brief.html"
    url = str(demo.url)
    result = runner.invoke(
        app, ["brief", "--db", url, "--period", "2026-W47", "--at", "2026-11-23", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["period"]["label"] == "2026-W47" and data["as_of"] == WEEK_END.isoformat()
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and 'id="plotly-js"' in page
    assert "reading funnel" in result.stderr and f"wrote {out}" in result.stderr


def test_the_command_names_what_it_cannot_do(tmp_path, sqlite_url):
    result = runner.invoke(app, ["brief", "--db", sqlite_url, "--period", "2026-W60"])
    assert result.exit_code == 1 and "2026 has no ISO week 60" in result.stderr
    result = runner.invoke(app, ["brief", "--db", sqlite_url, "--out", str(tmp_path / "brief.pdf")])
    assert result.exit_code == 1 and ".html or .md" in result.stderr
    result = runner.invoke(app, ["brief", "--db", sqlite_url, "--at", "23/11/2026"])
    assert result.exit_code == 1 and "YYYY-MM-DD" in result.stderr


def test_an_empty_store_gets_every_section_printed_as_markdown_in_the_company_zone(sqlite_url, tmp_path):
    berlin = tmp_path / "truce.toml"
    berlin.write_text(truce_config.default_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"'))
    args = ["brief", "--db", sqlite_url, "--config", str(berlin), "--period", "2026-W43", "--at", "2026-11-23"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    markdown = result.stdout
    assert markdown.startswith("# Joint revenue meeting — 2026-W43\n")
    assert "Mon 19 Oct 2026 – Sun 25 Oct 2026 (Europe/Berlin)" in markdown
    assert "As of 2026-10-26 00:00 Europe/Berlin" in markdown  # 2026-10-25 23:00 UTC, after the clocks went back
    assert re.findall(r"^## (.+)$", markdown, re.MULTILINE) == list(TITLES.values())
    assert "Nothing crossed a threshold this period." in markdown
    assert "no survey rounds yet" in markdown and "No joint account plan yet." in markdown
