"""RevOps without a terminal, in Debian's chromium: open a survey round and remind those who have not
answered, add a key account's joint plan, edit the funnel with a mistake (the error is where the eye
lands, its line marked) and fix it, and read the change as a diff in the audit trail.

The app runs in uvicorn on 127.0.0.1 over a small demo company; the funnel edit writes a truce.toml
in a temporary folder. Screenshots land in test-artifacts/revops/ at laptop and phone sizes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from live_server import serving
from sqlalchemy import select

from truce import config as truce_config
from truce.services import demo as demo_service
from truce.services.logins import add_user
from truce.store import db
from truce.store.models import Account, User
from truce.web.app import create_app

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "revops"
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "revops in the browser"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
ROUND = "2031-Q1"  # a round no demo has


@pytest.fixture(scope="module")
def company(tmp_path_factory, sqlite_template):
    """(base URL, RevOps' email, an account's name and domain that has no plan yet)."""
    folder = tmp_path_factory.mktemp("revops-browser")
    path = folder / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo_service.build(engine, contacts=300, seed=4, config=CONFIG)
    with engine.connect() as conn:
        revops = conn.execute(select(User.email).where(User.team == "revops", User.active.is_(True))).scalars().first()
        account = conn.execute(
            select(Account.name, Account.domain)
            .where(Account.is_key_account.is_(False), Account.domain.is_not(None))
            .order_by(Account.id)
        ).first()
    add_user(engine, email=revops, team="revops", password=PASSWORD)
    with serving(create_app(engine, CONFIG, config_path=folder / "truce.toml")) as port:
        yield f"http://127.0.0.1:{port}", revops, account
    engine.dispose()


def _log_in(page, base: str, email: str) -> None:
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


def test_revops_runs_a_round_a_plan_and_a_funnel_fix_from_the_browser(local_page, company):
    base, revops, (account_name, domain) = company
    page = local_page
    page.set_viewport_size(LAPTOP)
    _log_in(page, base, revops)

    # A survey round: opened, then everyone asked reminded.
    page.click("nav a[href='/survey/rounds']")
    page.fill("#open-round input[name=name]", ROUND)
    page.click("#open-round button[type=submit]")
    assert f"Round {ROUND} is open" in page.inner_text(".flash.ok")
    row = page.locator(f"tr[data-round='{ROUND}']")
    assert "0 / " in row.inner_text() and row.locator("[data-testid=rate-sales]").inner_text() == "0%"
    row.locator("button").click()
    assert "who have not answered reminded" in page.inner_text(".flash.ok")
    _shoot(page, "survey-rounds")

    # A joint plan for an account that had none: it becomes a key account with its plan.
    page.click("nav a[href='/account-plans']")
    before = page.inner_text("[data-testid=plan-count]")
    page.fill("#plan-form input[name=account]", domain)
    page.select_option("#plan-form select[name=owner]", index=1)
    page.select_option("#plan-form select[name=liaison]", index=1)
    page.fill("#plan-form textarea[name=objectives]", "Expand into the EU arm with a joint pilot")
    page.fill("#plan-form input[name=next_action]", "Joint QBR with their CFO")
    page.click("#plan-form button[type=submit]")
    assert f"The joint plan for {account_name} is saved" in page.inner_text(".flash.ok")
    assert "Joint QBR with their CFO" in page.inner_text("#plans")
    planned, keys = (int(n) for n in before.split(" key accounts")[0].split(" of "))
    assert page.inner_text("[data-testid=plan-count]").startswith(f"{planned + 1} of {keys + 1} key accounts")
    _shoot(page, "account-plans")

    # The funnel with a mistake: the page lands on the error, which names and quotes the line.
    page.click("nav a[href='/funnel']")
    editor = page.locator("textarea[name=toml]")
    text = editor.input_value()
    lines = text.split("\n")
    number = next(i for i, line in enumerate(lines, 1) if line.strip() == 'team = "marketing"')
    editor.fill(text.replace('team = "marketing"', 'team = "finance"', 1))
    page.click("#funnel-editor button[type=submit]")
    errors = page.locator("[data-testid=config-errors]")
    assert "Nothing was saved." in errors.inner_text()
    assert f"line {number}" in errors.inner_text() and 'team = "finance"' in errors.inner_text()
    box = errors.bounding_box()
    assert 0 <= box["y"] < LAPTOP["height"], "the error is where the page lands"
    marked = page.locator(".gutter .bad")
    assert marked.count() == 1 and marked.inner_text().strip().endswith(str(number))
    assert marked.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(197, 48, 48)"
    assert 'team = "finance"' in editor.input_value()  # what was typed is kept
    _shoot(page, "funnel-error")
    page.click(".goto-line")
    selected = editor.evaluate("t => t.value.slice(t.selectionStart, t.selectionEnd)")
    assert selected.strip() == 'team = "finance"'
    editor.fill(editor.input_value().replace('team = "finance"', 'team = "sales"', 1))
    page.click("#funnel-editor button[type=submit]")
    assert "Saved [funnel] and [sla]" in page.inner_text(".flash.ok")

    # The audit trail shows the edit as the lines that changed.
    page.goto(f"{base}/audit?action=funnel_config_edit")
    diff = page.locator("[data-testid=config-diff]").first
    assert '-team = "marketing"' in diff.inner_text() and '+team = "sales"' in diff.inner_text()
    assert "1 line added, 1 removed" in page.inner_text("#audit")
    added = diff.locator(".add").first
    assert added.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(230, 255, 237)"
    assert diff.locator(".remove").first.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 238, 240)"
    _shoot(page, "audit-diff")
    assert page.outside == []
