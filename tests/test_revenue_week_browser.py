"""The revenue week in Debian's chromium: a seller hears of a new lead in the app and decides it;
RevOps holds the joint meeting from the brief and records two decisions; the owner marks one done;
the next brief (this week's, over last week's meeting) opens with both.

The app runs in uvicorn on 127.0.0.1 over a small demo company. The scheduled delivery job is run
through the scheduler (`truce jobs run notify_deliver` does the same), as the worker inside
`truce serve` would. Screenshots land in test-artifacts/web/ at laptop and phone sizes.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from live_server import serving
from sqlalchemy import select

from truce import config as truce_config
from truce.services import demo as demo_service
from truce.services import leads
from truce.services.brief import week_of
from truce.services.jobs import scheduler
from truce.services.logins import add_user
from truce.store import db
from truce.store.models import Contact, Handoff, User
from truce.web.app import create_app

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "web"
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "revenue week 4 tests"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _first(engine, query):
    with engine.connect() as conn:
        return conn.execute(query).first()


@pytest.fixture(scope="module")
def week(tmp_path_factory, sqlite_template):
    """(base URL, engine, the new lead's email, its seller's email, a RevOps email)."""
    path = tmp_path_factory.mktemp("revenue-week") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo_service.build(engine, contacts=400, seed=3, config=CONFIG)
    marketer = _first(
        engine, select(User.email).where(User.team == "marketing", User.active.is_(True)).order_by(User.id)
    )[0]
    revops = _first(engine, select(User.email).where(User.team == "revops", User.active.is_(True)).order_by(User.id))[0]
    lead = _first(engine, select(Contact.email).where(Contact.stage == "inquiry").order_by(Contact.id))[0]
    # Marketing qualifies the lead: it is routed to a seller at once, who is owed a message.
    leads.move(engine, CONFIG, lead, "mql", actor_email=marketer)
    seller = _first(
        engine,
        select(User.email)
        .join(Handoff, Handoff.owner_id == User.id)
        .join(Contact, Contact.id == Handoff.contact_id)
        .where(Contact.email == lead, Handoff.status == "open"),
    )[0]
    for email, team in ((seller, "sales"), (revops, "revops")):
        add_user(engine, email=email, team=team, password=PASSWORD)
    with serving(create_app(engine, CONFIG)) as port:
        yield f"http://127.0.0.1:{port}", engine, lead, seller, revops
    engine.dispose()


def _log_in(page, base: str, email: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")


def _shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(LAPTOP)


def test_a_seller_follows_the_new_lead_notification_and_accepts_it(local_page, week):
    base, engine, lead, seller, _ = week
    outcome = scheduler.run_now(engine, CONFIG, "notify_deliver")
    assert outcome.status == "ok", outcome
    page = local_page
    _log_in(page, base, seller)
    bell = page.locator("a.bell")
    assert int(bell.locator("[data-testid=unread-count]").inner_text()) >= 1
    bell.click()
    page.wait_for_url(f"{base}/notifications")
    note = page.locator("li.item.unread", has_text=lead).first
    assert "A lead was routed to you" in note.inner_text()
    _shoot(page, "notifications")
    note.get_by_role("link", name=re.compile(re.escape(lead))).click()
    page.wait_for_url(re.compile(r"/handoffs#handoff-\d+$"))
    card = page.locator("li.lead:target")
    assert card.get_attribute("data-lead") == lead
    card.get_by_role("button", name="Accept").click()
    page.wait_for_load_state("load")
    assert f"{lead}: accepted" in page.locator(".flash.ok").inner_text()
    assert page.locator(f"li.lead[data-lead='{lead}']").count() == 0
    assert page.outside == []


def test_revops_holds_the_meeting_the_owner_closes_one_decision_and_the_next_brief_shows_both(local_page, week):
    base, engine, _, seller, revops = week
    zone = ZoneInfo(CONFIG.company.timezone)
    # The meeting goes over last week's brief; the next brief is this week's, which has started.
    this_week = week_of(dt.datetime.now(zone).date(), zone)
    met_on = week_of(this_week.first_day - dt.timedelta(days=1), zone)
    due = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    page = local_page
    _log_in(page, base, revops)
    page.goto(f"{base}/meetings?period={met_on.label}")
    page.locator("#start-meeting button[type=submit]").click()
    page.wait_for_load_state("load")
    assert page.locator("#meeting").get_attribute("data-period") == met_on.label
    for text, indicator in (("Call every cold lead this week", 1), ("Answer the waiting feedback", 2)):
        form = page.locator("#decide-own")
        form.locator("input[name=text]").fill(text)
        form.locator("select[name=owner]").select_option(seller)
        form.locator("input[name=due]").fill(due)
        form.locator("select[name=indicator]").select_option(index=indicator)
        form.get_by_role("button", name="Record the decision").click()
        page.wait_for_load_state("load")
        assert page.locator("p.decided", has_text=text).count() == 1
    _shoot(page, "meeting")

    _log_in(page, base, seller)
    page.goto(f"{base}/decisions")
    row = page.locator("tr[data-decision]", has_text="Call every cold lead this week")
    decision = row.get_attribute("data-decision")
    row.locator("input[name=note]").fill("Called all 12")
    row.get_by_role("button", name="Mark done").click()
    page.wait_for_load_state("load")
    assert f"Decision #{decision} is done." in page.locator(".flash.ok").inner_text()
    page.goto(f"{base}/decisions?state=all")
    assert page.locator(f"#decision-{decision} [data-testid=state]").inner_text() == "done"

    page.goto(f"{base}/brief/view?period={this_week.label}")
    last = page.locator("#last_meeting")
    assert met_on.label in last.inner_text()
    done = last.locator("tr", has_text="Call every cold lead this week")
    still_open = last.locator("tr", has_text="Answer the waiting feedback")
    assert done.locator("td.state").inner_text().startswith("done")
    assert still_open.locator("td.state").inner_text().startswith("open")
    assert page.outside == []
