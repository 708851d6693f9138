"""A busy store makes a write wait its turn, or answer "busy, retry" — never a 500, a traceback or a lost click.

Another writer holds the store's write lock (on SQLite: a transaction begun IMMEDIATE by a second
connection; on PostgreSQL: an EXCLUSIVE lock on the tables the write needs). A write that gets the
lock within its wait goes through; one that does not is refused with nothing written: the API a
503 JSON error with Retry-After, a page that keeps what was typed, the CLI one line, exit 75.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from truce import config as truce_config
from truce.services.feedback import add_feedback
from truce.services.logins import add_user, create_token
from truce.store.errors import StoreBusy
from truce.store.models import ApiToken, FeedbackItem, WebSession
from truce.store.work import unit_of_work
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "correct horse battery"
# Everything a write here may need, locked against writers but not readers (PostgreSQL).
PG_TABLES = "store_revision, feedback_items, audit_log, web_sessions, api_tokens"


@contextmanager
def another_writer(engine):
    """Hold the store's write lock from a second connection until the block ends."""
    if engine.dialect.name == "sqlite":
        holder = sqlite3.connect(engine.url.database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    holder = create_engine(engine.url).connect()
    transaction = holder.begin()
    holder.execute(text(f"LOCK TABLE {PG_TABLES} IN EXCLUSIVE MODE"))
    try:
        yield
    finally:
        transaction.rollback()
        holder.close()


def _feedback_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(FeedbackItem)).scalar_one()


@pytest.fixture
def people(engine):
    add_user(engine, email="eva@yourco.example", team="sales", password=PASSWORD)
    return engine


def test_a_write_waits_for_the_other_writer_and_then_goes_through(people, monkeypatch):
    engine = people
    released = threading.Event()

    def hold_briefly():
        with another_writer(engine):
            released.wait(0.4)

    holder = threading.Thread(target=hold_briefly)
    holder.start()
    time.sleep(0.1)  # the other writer has the lock now
    started = time.monotonic()
    item = add_feedback(engine, text="Rivalsoft cut prices", kind="competitor", author_email="eva@yourco.example")
    waited = time.monotonic() - started
    holder.join()
    assert item["text"] == "Rivalsoft cut prices"
    assert 0.2 <= waited < 5, waited  # it waited for the other writer, then went in
    assert _feedback_count(engine) == 1


def test_a_write_that_cannot_get_the_store_in_time_is_refused_and_writes_nothing(people, monkeypatch):
    engine = people
    monkeypatch.setenv("TRUCE_BUSY_TIMEOUT_SECONDS", "0.3")
    with another_writer(engine):
        started = time.monotonic()
        with pytest.raises(StoreBusy, match="the database is busy") as busy:
            add_feedback(engine, text="lost?", kind="other", author_email="eva@yourco.example")
        assert time.monotonic() - started < 3
    assert busy.value.retry_after >= 1
    assert _feedback_count(engine) == 0
    add_feedback(engine, text="sent again", kind="other", author_email="eva@yourco.example")  # free again
    assert _feedback_count(engine) == 1


def test_an_explicit_wait_overrides_the_default(people):
    engine = people
    with another_writer(engine):
        with pytest.raises(StoreBusy):
            with unit_of_work(engine, "test", "test", wait=0.1) as work:
                work.record("never", "database")


# ---- the faces --------------------------------------------------------------------------------------


@pytest.fixture
def client(people, tmp_path, monkeypatch):
    monkeypatch.setenv("TRUCE_BUSY_TIMEOUT_SECONDS", "0.3")
    app = create_app(people, CONFIG, config_path=tmp_path / "truce.toml")
    with TestClient(app, base_url="http://127.0.0.1") as browser:
        yield browser


def _as_a_browser(client):
    client.headers["accept"] = "text/html"
    return client


def test_the_api_answers_503_with_retry_after_and_nothing_is_written(client, people):
    token = create_token(people, email="eva@yourco.example")
    headers = {"authorization": f"Bearer {token}"}
    with another_writer(people):
        response = client.post("/api/v1/feedback", json={"text": "pricing objection", "kind": "pricing"}, headers=headers)
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["content-type"].startswith("application/json")
    assert "busy" in response.json()["error"] and response.json()["errors"] == []
    assert _feedback_count(people) == 0
    again = client.post("/api/v1/feedback", json={"text": "pricing objection", "kind": "pricing"}, headers=headers)
    assert again.status_code == 201


def test_a_read_with_a_token_is_answered_while_the_store_is_busy(client, people):
    token = create_token(people, email="eva@yourco.example")
    with another_writer(people):
        started = time.monotonic()
        me = client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
        assert time.monotonic() - started < 2  # the last-use note is skipped, not waited for
    assert me.status_code == 200 and me.json()["email"] == "eva@yourco.example"
    with people.connect() as conn:
        assert conn.execute(select(ApiToken.last_used_at)).scalar_one() is None  # noted next time
    client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    with people.connect() as conn:
        assert conn.execute(select(ApiToken.last_used_at)).scalar_one() is not None


def _log_in(client) -> str:
    _as_a_browser(client)
    response = client.post("/login", data={"email": "eva@yourco.example", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/feedback").text)[1]


def test_a_form_sent_while_the_store_is_busy_keeps_what_was_typed(client, people):
    csrf = _log_in(client)
    typed = "Castellan offers a free <90-day> pilot"
    with another_writer(people):
        page = client.post("/feedback", data={"text": typed, "kind": "competitor", "csrf": csrf})
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "the database is busy" in page.text and "Send again" in page.text
    assert 'value="Castellan offers a free &lt;90-day&gt; pilot"' in page.text  # kept, and escaped
    assert _feedback_count(people) == 0
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    assert form["kind"] == "competitor" and form["csrf"] == csrf
    form["text"] = typed
    sent = client.post("/feedback", data=form, follow_redirects=False)  # the page's "Send again"
    assert sent.status_code == 303
    assert _feedback_count(people) == 1


def test_a_log_in_while_the_store_is_busy_keeps_the_email_not_the_password(client, people):
    _as_a_browser(client)
    with another_writer(people):
        page = client.post("/login", data={"email": "eva@yourco.example", "password": PASSWORD})
    assert page.status_code == 503
    assert 'value="eva@yourco.example"' in page.text
    assert PASSWORD not in page.text and 'type="password"' in page.text
    with people.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WebSession)).scalar_one() == 0


def test_the_cli_says_busy_in_one_line_and_exits_75(people, database_url):
    env = {**os.environ, "TRUCE_BUSY_TIMEOUT_SECONDS": "0.3", "TRUCE_USER": "eva@yourco.example"}
    command = [sys.executable, "-c", "from truce.cli import main; main()", "feedback", "add", "heard it twice",
               "--kind", "other", "--db", database_url]  # fmt: skip
    with another_writer(people):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 75, done.stderr
    assert "Traceback" not in done.stderr and "OperationalError" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) <= 2 and "the database is busy" in done.stderr  # one message (Rich may wrap it)
    assert _feedback_count(people) == 0
