"""Pages share computed reports: after your own write you see it; others may see the last answer, and are told."""

from __future__ import annotations

import re
import shutil

import pytest
from fastapi.testclient import TestClient

from truce import config as truce_config
from truce.services import demo as demo_service
from truce.services.demo_logins import add_demo_logins
from truce.store import db
from truce.web.app import create_app
from truce.web.report_cache import WROTE, data_revision

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
NOTE = "Some figures here were computed"


@pytest.fixture
def app_and_logins(tmp_path, sqlite_template):
    path = tmp_path / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo_service.build(engine, contacts=150, seed=4, config=CONFIG)
    logins = {login["role"]: login for login in add_demo_logins(engine)}
    yield create_app(engine, CONFIG), engine, logins
    engine.dispose()


def browser(app, login: dict) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", headers={"accept": "text/html"})
    response = client.post("/login", data={"email": login["email"], "password": login["password"]})
    assert response.status_code == 200, response.text
    return client


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page)[1]


def test_the_writer_sees_their_write_and_a_colleague_is_told_the_figures_are_older(app_and_logins):
    app, engine, logins = app_and_logins
    seller, marketer = browser(app, logins["sales"]), browser(app, logins["marketing"])
    assert NOTE not in marketer.get("/feedback").text  # computed for this reader
    page = seller.get("/feedback").text
    posted = seller.post(
        "/feedback", data={"text": "Buyers want a monthly plan", "kind": "pricing", "csrf": csrf_of(page)},
        follow_redirects=False,
    )  # fmt: skip
    assert posted.status_code == 303
    revision = data_revision(engine)
    assert posted.cookies[WROTE] == str(revision)

    assert NOTE not in seller.get("/feedback").text
    themes = app.state.report_cache._entries[("page", "feedback_themes", _options())]
    assert themes.revision[0] == revision  # the seller's read computed it afresh

    # The seller's fresh answer is now current for everyone.
    assert NOTE not in marketer.get("/feedback").text


def test_a_colleague_who_did_not_write_may_see_the_last_answer_with_a_note(app_and_logins):
    app, engine, logins = app_and_logins
    seller, marketer = browser(app, logins["sales"]), browser(app, logins["marketing"])
    marketer.get("/feedback")
    page = seller.get("/feedback").text
    posted = seller.post(
        "/feedback", data={"text": "Competitor cut prices 20 %", "kind": "competitor", "csrf": csrf_of(page)},
        follow_redirects=False,
    )  # fmt: skip
    assert posted.status_code == 303
    shown = marketer.get("/feedback").text
    assert NOTE in shown
    assert re.search(NOTE + r" \d+ s ago", shown)


def _options():
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()
    return tuple(sorted({"start": today - dt.timedelta(days=89), "end": today}.items()))
