"""Secrets stay in the store: exports leave credentials out, files are the owner's alone, errors hide values.

Password hashes, token hashes, session hashes and CSRF tokens are not in any export; the database,
its WAL and shared-memory files, exports, rejects files and briefs are created readable by their
owner only (0600); an error from the store never prints the values bound to its statement.
"""

from __future__ import annotations

import logging
import os
import stat

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.services import logins
from truce.services.export import SECRET_COLUMNS, export_table
from truce.store import db
from truce.store.models import ApiToken, User, WebSession
from truce.store.work import unit_of_work
from truce.web.app import create_app
from truce.web.safe_errors import safe_text

PASSWORD = "correct horse battery"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def secrets_in_store(engine):
    logins.add_user(engine, email="eva@yourco.example", team="sales", password=PASSWORD)
    session, csrf, _ = logins.log_in(engine, "eva@yourco.example", PASSWORD)
    token = logins.create_token(engine, email="eva@yourco.example")
    with engine.connect() as conn:
        stored = [
            conn.execute(select(User.password_hash)).scalar_one(),
            conn.execute(select(ApiToken.token_hash)).scalar_one(),
            *conn.execute(select(WebSession.session_hash, WebSession.csrf_token)).one(),
        ]
    return engine, [session, csrf, token, *stored]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_exports_leave_every_credential_out(secrets_in_store, tmp_path, fmt):
    engine, secrets = secrets_in_store
    for table in ("users", "api_tokens", "web_sessions"):
        out = tmp_path / f"{table}.{fmt}"
        assert export_table(engine, table, out, fmt) == 1
        written = out.read_bytes()
        for secret in secrets:
            assert secret.encode() not in written, f"a secret of {table} left in the {fmt} export"
        for column in SECRET_COLUMNS[table]:
            assert column.encode() not in written
        assert _mode(out) == 0o600
    assert b"eva@yourco.example" in (tmp_path / f"users.{fmt}").read_bytes()  # the rest is there


def test_every_table_exports_and_the_throttle_keys_stay_in(secrets_in_store, tmp_path):
    from truce.services.export import table_names

    engine, _ = secrets_in_store
    with pytest.raises(logins.LoginError):
        logins.log_in(engine, "eva@yourco.example", "not her password", address="203.0.113.9")
    for table in table_names():
        assert export_table(engine, table, tmp_path / f"{table}.csv") >= 0
    throttles = (tmp_path / "login_throttles.csv").read_text().splitlines()
    assert len(throttles) == 3 and "key_hash" not in throttles[0]  # the email's count and the address's


def test_an_export_over_a_readable_file_makes_it_the_owners_alone(secrets_in_store, tmp_path):
    engine, _ = secrets_in_store
    out = tmp_path / "users.csv"
    out.write_text("old")
    os.chmod(out, 0o644)
    export_table(engine, "users", out)
    assert _mode(out) == 0o600 and "eva@yourco.example" in out.read_text()


def test_a_new_database_and_its_wal_are_the_owners_alone(tmp_path):
    path = tmp_path / "fresh.db"
    engine = db.connect(f"sqlite:///{path}")
    db.upgrade(engine)
    logins.add_user(engine, email="eva@yourco.example", team="sales")
    with engine.connect() as conn:  # WAL and shared memory exist while a connection is open
        conn.execute(select(User.id)).all()
        files = [path, tmp_path / "fresh.db-wal", tmp_path / "fresh.db-shm", tmp_path / "fresh.db-writers"]
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    engine.dispose()


def test_rejects_files_and_briefs_are_the_owners_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'truce.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    leads = tmp_path / "leads.csv"
    leads.write_text("email,first_name\nann@acme.example,Ann\nnot-an-email,Bob\n")
    done = runner.invoke(app, ["import", "contacts", str(leads), "--skip-invalid", "--db", url])
    assert done.exit_code == 0, done.output
    assert _mode(tmp_path / "leads.rejects.csv") == 0o600
    brief = runner.invoke(app, ["brief", "--out", "brief.md", "--db", url])
    assert brief.exit_code == 0, brief.output
    assert _mode(tmp_path / "brief.md") == 0o600


def _failing_insert(engine, session_hash: str, csrf: str) -> None:
    """A write the store refuses (no user 1's times), carrying two secrets."""
    with unit_of_work(engine, "test", "test") as work:
        work.conn.execute(
            insert(WebSession),
            {"user_id": 1, "session_hash": session_hash, "csrf_token": csrf, "created_at": None, "expires_at": None},
        )


def test_a_store_error_is_logged_without_the_values_bound_to_it(secrets_in_store, caplog):
    engine, secrets = secrets_in_store
    session_hash, csrf = secrets[5], secrets[6]
    with pytest.raises(IntegrityError) as failed:
        _failing_insert(engine, session_hash, csrf)
    assert "hidden" in str(failed.value)  # SQLAlchemy leaves the parameters out of its own text
    said = safe_text(failed.value)  # and what the server logs leaves out PostgreSQL's failing row too
    assert session_hash not in said and csrf not in said and "INSERT INTO web_sessions" in said

    app = create_app(engine, truce_config.parse(truce_config.default_text(), "truce.toml"))
    app.add_api_route("/boom", lambda: _failing_insert(engine, session_hash, csrf))
    with caplog.at_level(logging.ERROR), TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom")
    assert answer.status_code == 500 and "reference" in answer.json()["error"]
    logged = caplog.text
    assert "INSERT INTO web_sessions" in logged and answer.json()["error"].split("reference ")[1][:8] in logged
    assert session_hash not in logged and csrf not in logged and session_hash not in answer.text


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_crm_connection_exports_without_its_sealed_secrets(engine, tmp_path, monkeypatch, fmt):
    from truce.services.connectors import connections

    monkeypatch.setenv("TRUCE_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    request = connections.Request("hubspot", secret="pat-na1-very-secret", webhook_secret="hook-secret-42")
    connections.connect(engine, truce_config.parse(truce_config.default_text()), request, actor="revops@x.example")
    with engine.connect() as conn:
        sealed = conn.execute(select(connections.CrmConnection.secret_sealed)).scalar_one()
    out = tmp_path / f"crm_connections.{fmt}"
    assert export_table(engine, "crm_connections", out, fmt) == 1
    written = out.read_bytes()
    for secret in ("pat-na1-very-secret", "hook-secret-42", sealed):
        assert secret.encode() not in written
    assert b"secret_sealed" not in written and b"api.hubapi.com" in written
