"""The brief's HTML in headless chromium: charts draw, nothing leaves the machine, and screenshots are kept.

The screenshots land in test-artifacts/ at the repository root (brief.png at laptop width,
brief-phone.png at 390×844), for a person to look at the layout.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from truce import config as truce_config
from truce.brief import render_html
from truce.brief.render import TITLES
from truce.services import account_plans, survey
from truce.services import demo as demo_service
from truce.services.brief import build_brief
from truce.store import db
from truce.store.models import Account, User

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
AS_OF = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def _emails(engine, team: str) -> list[str]:
    with engine.connect() as conn:
        query = select(User.email).where(User.team == team, User.active.is_(True)).order_by(User.email)
        return list(conn.execute(query).scalars())


def _round_and_plans(engine) -> None:
    """A survey round both teams answered and two joint plans, so every section has something to show."""
    sellers, marketers, revops = _emails(engine, "sales"), _emails(engine, "marketing"), _emails(engine, "revops")
    for team, people in (("sales", sellers[:4]), ("marketing", marketers[:4])):
        for number, email in enumerate(people):
            ratings = [3 + (number + index) % 3 for index in range(20)]
            ratings[0] = 5 if team == "sales" else 2
            survey.record_response(
                engine,
                round_name="2026-Q4",
                respondent_email=email,
                team=team,
                role=survey.respondent(engine, email)["role"],
                ratings=ratings,
                at=dt.datetime(2026, 11, 10, tzinfo=dt.UTC),
            )
    with engine.connect() as conn:
        keys = list(
            conn.execute(select(Account.id).where(Account.is_key_account.is_(True)).order_by(Account.id)).scalars()
        )
    for account, due, action in (
        (keys[0], dt.date(2026, 11, 18), "Joint workshop"),
        (keys[1], dt.date(2026, 12, 10), "QBR"),
    ):
        account_plans.set_plan(
            engine,
            account=account,
            liaison_email=marketers[0],
            owner_email=sellers[0],
            objectives="Expand to the second plant",
            next_action=action,
            next_action_due=due,
            actor=revops[0],
        )


@pytest.fixture(scope="module")
def brief_file(tmp_path_factory, sqlite_template) -> Path:
    folder = tmp_path_factory.mktemp("brief-browser")
    shutil.copy(sqlite_template, folder / "demo.db")
    engine = db.connect(f"sqlite:///{folder / 'demo.db'}")
    try:
        demo_service.build(engine, contacts=1500, seed=3)
        _round_and_plans(engine)
        brief = build_brief(engine, CONFIG, period="2026-W47", as_of=AS_OF)
    finally:
        engine.dispose()
    path = folder / "brief.html"
    path.write_text(render_html(brief), encoding="utf-8")
    return path


def _open(page, path: Path) -> None:
    page.goto(path.as_uri())
    page.wait_for_selector(".plotly .main-svg")
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # the resize after load redraws the charts at their cards' width


def test_the_brief_opens_offline_with_its_charts_and_a_screenshot_is_kept(local_page, brief_file):
    _open(local_page, brief_file)
    assert local_page.outside == []
    charts = local_page.locator(".js-plotly-plot")
    assert charts.count() >= 6
    assert local_page.locator(".js-plotly-plot .main-svg").count() >= 6
    for key, title in TITLES.items():
        heading = local_page.locator(f"#{key} h2")
        assert heading.is_visible() and heading.inner_text() == title
    assert local_page.locator("ol.decisions li").count() >= 3
    assert local_page.locator("#account_plans td", has_text="Joint workshop").is_visible()
    # No chart is wider than the card it sits in.
    widths = local_page.evaluate(
        """() => [...document.querySelectorAll('.js-plotly-plot')].map(
               c => [c.getBoundingClientRect().width, c.closest('.card').clientWidth])"""
    )
    assert all(chart <= card for chart, card in widths), widths
    ARTIFACTS.mkdir(exist_ok=True)
    local_page.screenshot(path=str(ARTIFACTS / "brief.png"), full_page=True)
    assert (ARTIFACTS / "brief.png").stat().st_size > 50_000
    assert local_page.outside == []


def test_the_brief_reads_on_a_phone(local_page, brief_file):
    local_page.set_viewport_size({"width": 390, "height": 844})
    _open(local_page, brief_file)
    assert local_page.outside == []
    page_width = local_page.evaluate("() => document.documentElement.scrollWidth")
    assert page_width <= 390  # wide tables scroll inside their card, the page never does
    assert local_page.locator("#decisions h2").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    local_page.screenshot(path=str(ARTIFACTS / "brief-phone.png"), full_page=True)
    assert (ARTIFACTS / "brief-phone.png").stat().st_size > 50_000
