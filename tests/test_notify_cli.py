"""`truce notifications`: RevOps sees failed deliveries and broken channels, retries them, lists
deliveries, and sets a person's channels — with --json, and usage errors as one line and exit 2."""

from __future__ import annotations

import datetime as dt
import json

from notify_servers import add_people, deliveries, free_port, make_config, owe_one
from sqlalchemy import select
from typer.testing import CliRunner

from truce.cli import app
from truce.services.notify.delivery import deliver
from truce.store.models import AuditEntry

UTC = dt.UTC
OPEN = dt.datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
runner = CliRunner()


def _db(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _broken_webhook(engine):
    closed = f"http://127.0.0.1:{free_port()}/hook"
    config = make_config(f'[[notify.webhooks]]\nname = "tools"\nshape = "slack"\nurl = "{closed}"\n')
    owe_one(engine, "sla_breach", None, "Breach", OPEN)
    deliver(engine, config, OPEN)


def test_failed_names_the_broken_channel_once(engine):
    _broken_webhook(engine)
    result = runner.invoke(app, ["notifications", "failed", "--db", _db(engine), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert [c["name"] for c in found["broken_channels"]] == ["webhook:tools"]
    assert found["deliveries"] == []
    shown = runner.invoke(app, ["notifications", "failed", "--db", _db(engine)])
    assert "webhook:tools is broken" in shown.output


def test_retry_all_clears_the_broken_channel_and_is_audited(engine):
    _broken_webhook(engine)
    result = runner.invoke(app, ["notifications", "retry", "--all", "--db", _db(engine), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["channels_cleared"] == 1
    with engine.connect() as conn:
        assert conn.execute(select(AuditEntry.action).where(AuditEntry.action == "notifications_retry")).all()


def test_retry_needs_an_id_or_all(engine):
    result = runner.invoke(app, ["notifications", "retry", "--db", _db(engine)])
    assert result.exit_code == 2 and "--all" in result.output


def test_retrying_a_sent_delivery_is_refused(engine):
    people = add_people(engine, "eva@yourco.example")
    owe_one(engine, "lead_routed", people["eva@yourco.example"], "Lead", OPEN)
    deliver(engine, make_config(""), OPEN)
    [inbox] = deliveries(engine, "inbox")
    result = runner.invoke(app, ["notifications", "retry", str(inbox["id"]), "--db", _db(engine)])
    assert result.exit_code == 1 and "not failed or dead" in result.output


def test_list_shows_one_persons_deliveries(engine):
    people = add_people(engine, "eva@yourco.example", "sam@yourco.example")
    for address, user_id in people.items():
        owe_one(engine, "lead_routed", user_id, f"Lead for {address}", OPEN)
    deliver(engine, make_config(""), OPEN)
    result = runner.invoke(
        app, ["notifications", "list", "--user", "sam@yourco.example", "--db", _db(engine), "--json"]
    )
    rows = json.loads(result.output)
    assert [(r["user"], r["channel"], r["status"]) for r in rows] == [("sam@yourco.example", "inbox", "sent")]


def test_prefs_sets_and_shows_a_persons_channels(engine):
    add_people(engine, "eva@yourco.example")
    db = _db(engine)
    result = runner.invoke(
        app,
        [
            "notifications",
            "prefs",
            "eva@yourco.example",
            "--set",
            "lead_routed=email",
            "--set",
            "mql_pace=",
            "--db",
            db,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    chosen = {k["kind"]: k["channels"] for k in json.loads(result.output)["kinds"] if k["chosen"]}
    assert chosen == {"lead_routed": ["email"], "mql_pace": []}
    shown = runner.invoke(app, ["notifications", "prefs", "eva@yourco.example", "--db", db])
    assert "lead_routed" in shown.output


def test_prefs_refuses_an_unknown_kind_in_one_line(engine):
    add_people(engine, "eva@yourco.example")
    result = runner.invoke(
        app, ["notifications", "prefs", "eva@yourco.example", "--set", "nope=inbox", "--db", _db(engine)]
    )
    assert result.exit_code == 2 and "unknown event kind 'nope'" in result.output
    bad = runner.invoke(
        app, ["notifications", "prefs", "eva@yourco.example", "--set", "lead_routed", "--db", _db(engine)]
    )
    assert bad.exit_code == 2 and "KIND=CHANNELS" in bad.output
