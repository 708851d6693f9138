"""`truce demo --force` replaces a store whatever its rows: the reset drops every table truce made
and the demo is built on a schema upgraded from nothing, on SQLite and PostgreSQL.

The reset used to downgrade through the migrations, and migration 0010's downgrade cannot hold an
expired handoff or a `decision_expired` breach (kinds and statuses newer than it): a store whose
SLA sweep had escalated a lead could not be replaced.

The escalated store: ann becomes an MQL on Monday 16 November 2026 at 09:00, routed to eva; with
the default SLA (decision within 24 business hours, lead taken away 16 business hours after the
deadline, 09:00–17:00 UTC Monday to Friday) a sweep on Friday 20th at 17:00 expires her handoff
and re-routes her to nick.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import writing
from sqlalchemy import insert, inspect, select, text

from truce import config as truce_config
from truce.services import demo as demo_service
from truce.services.lifecycle import move_contact
from truce.services.sla_rules.rounds import run_round
from truce.store import db
from truce.store.models import Account, Base, Contact, Handoff, SlaEvent, User

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
OURS = set(Base.metadata.tables) | {"alembic_version"}
FRIDAY_17 = dt.datetime(2026, 11, 20, 17, tzinfo=dt.UTC)


@pytest.fixture
def escalated(engine):
    """A store holding an expired handoff and a `decision_expired` breach, as a sweep leaves them."""
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with writing(engine) as conn:
        for email, region in (("eva@seller.example", "EMEA"), ("nick@seller.example", "NA")):
            conn.execute(
                insert(User),
                {"email": email, "name": email, "team": "sales", "region": region, "segment": "enterprise",
                 "active": True, "is_leader": False, "created_at": now},
            )  # fmt: skip
        account = conn.execute(
            insert(Account).returning(Account.id),
            {"name": "Acme", "region": "EMEA", "segment": "enterprise", "is_key_account": False,
             "created_at": now, "updated_at": now},
        ).scalar_one()  # fmt: skip
        ann = conn.execute(
            insert(Contact).returning(Contact.id),
            {"email": "ann@acme.example", "stage": "inquiry", "account_id": account, "created_at": now,
             "updated_at": now},
        ).scalar_one()  # fmt: skip
    with writing(engine) as conn:
        move_contact(conn, CONFIG, ann, "mql", at=dt.datetime(2026, 11, 16, 9, tzinfo=dt.UTC), origin="rule")
    run_round(engine, CONFIG, FRIDAY_17)
    with engine.connect() as conn:
        statuses = set(conn.execute(select(Handoff.status)).scalars())
        kinds = set(conn.execute(select(SlaEvent.kind)).scalars())
    assert "expired" in statuses and "decision_expired" in kinds, (statuses, kinds)  # what 0010 cannot hold
    return engine


def truce_tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) & OURS


def test_it_drops_every_table_of_a_store_holding_expired_handoffs_and_breaches(escalated):
    demo_service.reset(escalated, discard_history=True)
    assert truce_tables(escalated) == set()
    assert db.current_revision(escalated) is None


def test_it_upgrades_from_nothing_after_the_reset(escalated):
    demo_service.reset(escalated, discard_history=True)
    db.upgrade(escalated)  # PostgreSQL: 0001 creates the append-only function again, so it must be gone
    assert truce_tables(escalated) == OURS
    assert db.current_revision(escalated) == db.head_revision()
    with escalated.connect() as conn:
        assert conn.execute(select(Handoff.id)).all() == []
        assert conn.execute(select(SlaEvent.id)).all() == []


def test_the_rebuilt_store_keeps_its_history_append_only(escalated):
    demo_service.reset(escalated, discard_history=True)
    db.upgrade(escalated)
    with writing(escalated) as conn:
        conn.execute(
            text("INSERT INTO audit_log (at, actor, action, entity_type) VALUES (:at, 'test', 'create', 'user')"),
            {"at": FRIDAY_17},
        )
    with pytest.raises(Exception, match="append-only"):
        with writing(escalated) as conn:
            conn.execute(text("DELETE FROM audit_log"))


def test_it_leaves_tables_that_are_not_truces(escalated):
    with escalated.begin() as conn:
        conn.execute(text("CREATE TABLE crm_notes_of_our_own (id INTEGER PRIMARY KEY)"))
    demo_service.reset(escalated, discard_history=True)
    assert "crm_notes_of_our_own" in inspect(escalated).get_table_names()


def test_it_still_refuses_history_the_demo_did_not_write_unless_told(escalated):
    # The sweep above acted as "cli": someone ran it, so it is somebody's history.
    with pytest.raises(db.HistoryAtStake):
        demo_service.reset(escalated)
    assert truce_tables(escalated) == OURS


# ---- `truce demo --serve --force`, twice --------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve_demo_once(folder, port: int) -> str:
    """`truce demo --serve --force` until it answers a page and its worker has swept the queue; then Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUCE_")}
    log = folder / f"serve-{port}.log"
    truce = str(Path(sys.executable).parent / "truce")
    command = [truce, "demo", "--serve", "--force", "--contacts", "400", "--port", str(port)]
    with open(log, "w") as out:
        server = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    try:
        deadline, page = time.monotonic() + 120, None
        while time.monotonic() < deadline and not (page and _swept(folder / "truce.db")):
            assert server.poll() is None, log.read_text()[-3000:]
            page = page or _first_page(port)
            time.sleep(0.5)
        assert page and _swept(folder / "truce.db"), "no page, or the worker never ran the SLA sweep"
        return page
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)


def _first_page(port: int) -> str | None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Accept": "text/html"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.read().decode()
    except OSError:  # not listening yet
        return None


def _swept(path) -> bool:
    try:
        with sqlite3.connect(path) as conn:
            return bool(
                conn.execute("SELECT count(*) FROM job_runs WHERE job = 'sla_sweep' AND status = 'ok'").fetchone()[0]
            )
    except sqlite3.Error:  # not built yet
        return False


@pytest.mark.slow
def test_it_serves_a_fresh_demo_twice_in_a_row(tmp_path):
    for _ in range(2):
        assert "truce" in _serve_demo_once(tmp_path, _free_port())
