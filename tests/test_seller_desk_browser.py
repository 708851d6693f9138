"""The seller's desk in Debian's chromium: a seller opens a lead from a due-soon card, logs a call,
accepts, undoes, accepts again, and claims a lead nobody owns — checking what she sees: the words,
and the colours of the due-soon (amber) and overdue (red) clocks. Laptop and phone screenshots land
in test-artifacts/desk/.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from conftest import writing
from live_server import serving
from sqlalchemy import insert, update

from truce import config as truce_config
from truce.services.lifecycle import move_contact
from truce.services.logins import add_user
from truce.store import db
from truce.store.models import Account, Contact, Handoff
from truce.web.app import create_app

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "desk"
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "the seller's desk in tests"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
AMBER, RED = "rgb(138, 75, 0)", "rgb(155, 28, 28)"  # truce.css, /* --- desk --- */: .clock.soon, .clock.overdue


@pytest.fixture(scope="module")
def desk(tmp_path_factory, sqlite_template):
    """Eva's queue: Ann due in half a business hour, Bob twelve days overdue; Cat is nobody's yet."""
    path = tmp_path_factory.mktemp("desk") / "desk.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    add_user(engine, email="eva@yourco.example", team="sales", name="Eva Lind", password=PASSWORD)
    now = dt.datetime.now(dt.UTC)
    clock = CONFIG.business_hours.clock(CONFIG.company.timezone)
    ids = {}
    with writing(engine) as conn:
        account = conn.execute(insert(Account).returning(Account.id), {
            "name": "Acme Analytics", "domain": "acme.example", "segment": "enterprise", "is_key_account": True,
            "created_at": now, "updated_at": now}).scalar_one()  # fmt: skip
        for first, title, since in (("ann", "CFO", dt.timedelta(hours=1)), ("bob", "CTO", dt.timedelta(days=12)),
                                    ("cat", "Head of data", dt.timedelta(hours=1))):  # fmt: skip
            ids[first] = conn.execute(insert(Contact).returning(Contact.id), {
                "email": f"{first}@acme.example", "first_name": first.title(), "last_name": "Fischer", "title": title,
                "stage": "inquiry", "account_id": account, "source_channel": "paid_search", "score": 72,
                "created_at": now - since, "updated_at": now}).scalar_one()  # fmt: skip
            move_contact(conn, CONFIG, ids[first], "mql", at=now - since, origin="rule", reason="score")
        # Ann's first touch falls due in half a business hour, whatever the time of day the test runs.
        conn.execute(update(Handoff).where(Handoff.contact_id == ids["ann"])
                     .values(first_touch_due_at=clock.add(now, dt.timedelta(minutes=30))))  # fmt: skip
        conn.execute(update(Handoff).where(Handoff.contact_id == ids["cat"]).values(owner_id=None))
        conn.execute(update(Contact).where(Contact.id == ids["cat"]).values(owner_id=None))
    with serving(create_app(engine, CONFIG)) as port:
        yield f"http://127.0.0.1:{port}", ids
    engine.dispose()


def _shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(LAPTOP)


def _flash(page) -> str:
    return page.locator(".flash").first.inner_text()


def test_a_seller_works_her_desk(desk, local_page):
    base, ids = desk
    page = local_page
    page.set_viewport_size(LAPTOP)
    page.goto(f"{base}/login")
    page.fill("input[name=email]", "eva@yourco.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/handoffs")

    # Ann falls due within 4 business hours; Bob's deadlines (twelve days ago) have passed.
    assert "1 lead is due in the next 4 business hours; 1 is overdue." in page.get_by_test_id("standing").inner_text()
    ann = page.locator("#mine li[data-lead='ann@acme.example']")
    soon = ann.locator("[data-clock=first_touch]")
    assert "business minutes left" in soon.inner_text() and "DUE SOON" in soon.inner_text()
    assert soon.evaluate("e => getComputedStyle(e).color") == AMBER
    assert "Fischer · CFO · Acme Analytics" in ann.locator(".who").inner_text()
    bob = page.locator("#mine li[data-lead='bob@acme.example'] [data-clock=first_touch]")
    assert "days overdue" in bob.inner_text() and "OVERDUE" in bob.inner_text()
    assert bob.evaluate("e => getComputedStyle(e).color") == RED
    _shoot(page, "desk")

    ann.locator("a.contact-link").click()  # the due-soon card opens the lead's page
    page.wait_for_url(f"{base}/leads/{ids['ann']}")
    assert page.get_by_test_id("lead-name").inner_text() == "Ann Fischer"
    assert "Marketing qualified lead" in page.get_by_test_id("lead-stage").inner_text()
    _shoot(page, "lead")
    page.goto(f"{base}/handoffs")

    ann = page.locator("#mine li[data-lead='ann@acme.example']")
    ann.locator("select[name=kind]").select_option("call")
    ann.locator("form.touch button").click()
    page.wait_for_url(f"{base}/handoffs")
    assert "ann@acme.example: your call is logged. It stopped the first-touch clock, in time." in _flash(page)
    assert "first touch made" in page.locator("#mine li[data-lead='ann@acme.example']").inner_text()

    page.locator("#mine li[data-lead='ann@acme.example'] button.good").click()
    page.wait_for_url(f"{base}/handoffs")
    assert "ann@acme.example: accepted" in _flash(page)
    assert page.locator("#mine li[data-lead='ann@acme.example']").count() == 0
    _shoot(page, "desk-just-decided")

    page.locator("#just-decided li[data-undo='ann@acme.example'] button").click()
    page.wait_for_url(f"{base}/handoffs")
    assert "ann@acme.example: your accept is undone" in _flash(page)
    page.locator("#mine li[data-lead='ann@acme.example'] button.good").click()
    page.wait_for_url(f"{base}/handoffs")
    assert "ann@acme.example: accepted" in _flash(page)

    cat = page.locator("#unowned li[data-lead='cat@acme.example']")
    assert "Head of data" in cat.inner_text()
    cat.get_by_role("button", name="Claim").click()
    page.wait_for_url(f"{base}/handoffs")
    assert "cat@acme.example is yours now" in _flash(page)
    assert page.locator("#mine li[data-lead='cat@acme.example']").count() == 1
    assert page.locator("#unowned").count() == 0
    _shoot(page, "desk-claimed")
    assert page.outside == []
