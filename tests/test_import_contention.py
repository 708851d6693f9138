"""RevOps imports a big file while sellers click: every click goes through, nothing is lost, nobody sees a 500.

A real `truce import touchpoints` runs in a second process while, in this one, the API takes
feedback and a pushed batch, a page takes a form, a seller logs in, a token reads, and the CLI
adds feedback from a third process. The import commits batch by batch and lets waiting writers
go first between batches, so each interactive write waits at most about one batch.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import subprocess
import sys
import time

import pytest
from conftest import writing
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from truce import config as truce_config
from truce.services.logins import add_user, create_token
from truce.store.models import AuditEntry, Contact, FeedbackItem, ImportRun, Touchpoint
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
T0 = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"
CONTACTS = 2_000
TOUCHES = 120_000  # 24 batches of 5,000: several seconds of importing on any machine we run on


def _write_touches(path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        rows = csv.writer(handle)
        rows.writerow(["external_id", "contact_email", "channel", "kind", "touch_type", "occurred_at"])
        for i in range(TOUCHES):
            at = (T0 + dt.timedelta(minutes=i)).isoformat()
            rows.writerow([f"IMP{i}", f"lead{i % CONTACTS}@acme.example", "email", "marketing", "email_open", at])


def _count(engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.mark.slow
def test_interactive_writes_go_through_while_a_big_import_runs(engine, database_url, tmp_path, monkeypatch):
    monkeypatch.delenv("TRUCE_BUSY_TIMEOUT_SECONDS", raising=False)
    add_user(engine, email="eva@yourco.example", team="sales", password=PASSWORD)
    add_user(engine, email="ria@yourco.example", team="revops")
    with writing(engine) as conn:
        conn.execute(
            insert(Contact),
            [
                {"email": f"lead{i}@acme.example", "stage": "sql", "created_at": T0, "updated_at": T0}
                for i in range(CONTACTS)
            ],
        )
    token = create_token(engine, email="ria@yourco.example")
    path = tmp_path / "touches.csv"
    _write_touches(path)
    command = [sys.executable, "-c", "from truce.cli import main; main()", "import", "touchpoints", str(path),
               "--db", database_url, "--json"]  # fmt: skip
    importer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    answers, during = [], 0
    try:
        deadline = time.monotonic() + 120
        while _count(engine, AuditEntry, AuditEntry.action == "import_batch") == 0:  # it is writing now
            assert importer.poll() is None and time.monotonic() < deadline, importer.stderr.read()
            time.sleep(0.05)
        app = create_app(engine, CONFIG, config_path=tmp_path / "truce.toml")
        with TestClient(app, base_url="http://127.0.0.1") as api, TestClient(app, base_url="http://127.0.0.1") as web:
            bearer = {"authorization": f"Bearer {token}"}
            web.headers["accept"] = "text/html"
            for round_ in range(3):
                running = importer.poll() is None
                answers.append(api.post("/api/v1/feedback", json={"text": f"api {round_}", "kind": "other"}, headers=bearer))
                pushed = [
                    {"external_id": f"API{round_}-{i}", "contact_email": f"lead{i}@acme.example", "channel": "event",
                     "kind": "marketing", "touch_type": "event_attended", "occurred_at": T0.isoformat()}
                    for i in range(50)
                ]  # fmt: skip
                answers.append(api.post("/api/v1/ingest/touchpoints", json={"items": pushed}, headers=bearer))
                answers.append(api.get("/api/v1/me", headers=bearer))
                logged_in = web.post("/login", data={"email": "eva@yourco.example", "password": PASSWORD})
                answers.append(logged_in)
                csrf = re.search(r'name="csrf" value="([^"]+)"', web.get("/feedback").text)[1]
                form = web.post("/feedback", data={"text": f"page {round_}", "kind": "other", "csrf": csrf},
                                follow_redirects=False)  # fmt: skip
                answers.append(form)
                cli = subprocess.run(
                    [sys.executable, "-c", "from truce.cli import main; main()", "feedback", "add", f"cli {round_}",
                     "--kind", "other", "--db", database_url],
                    env={**os.environ, "TRUCE_USER": "eva@yourco.example"}, capture_output=True, text=True, timeout=120,
                )  # fmt: skip
                assert cli.returncode == 0 and "Traceback" not in cli.stderr, cli.stderr
                during += running and importer.poll() is None
        assert importer.wait(timeout=300) == 0, importer.stderr.read()
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
        importer.stderr.close()

    assert during >= 1, "the import finished before the writes began; make the file bigger"
    assert [a.status_code for a in answers if a.status_code >= 400] == []
    assert [a.status_code for a in answers if a.request.url.path == "/feedback"] == [303, 303, 303]
    # Nothing lost: the whole file, every pushed batch, every piece of feedback from every face.
    assert _count(engine, Touchpoint, Touchpoint.external_id.like("IMP%")) == TOUCHES
    assert _count(engine, Touchpoint, Touchpoint.external_id.like("API%")) == 150
    with engine.connect() as conn:
        said = sorted(conn.execute(select(FeedbackItem.text)).scalars())
        run = conn.execute(select(ImportRun.inserted, ImportRun.rows_read).where(ImportRun.file_name == str(path))).one()
    assert said == sorted([f"{face} {n}" for face in ("api", "cli", "page") for n in range(3)])
    assert (run.inserted, run.rows_read) == (TOUCHES, TOUCHES)
