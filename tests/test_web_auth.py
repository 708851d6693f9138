"""Logging in, sessions, CSRF and API tokens: who may ask, and how a stranger is refused."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from truce import config as truce_config
from truce.domain.access import PERMISSIONS, ROLES, Forbidden, require, role_of
from truce.services.logins import LoginError, add_user, create_token
from truce.store import db
from truce.store.models import ApiToken, AuditEntry, User, WebSession
from truce.web.app import COOKIE, create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "correct horse battery"


@pytest.fixture
def engine(sqlite_template, tmp_path):
    path = tmp_path / "web.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    add_user(engine, email="eva@yourco.example", team="sales", password=PASSWORD)
    add_user(engine, email="vic@yourco.example", team="marketing", role="viewer", password=PASSWORD)
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine):
    with TestClient(create_app(engine, CONFIG), base_url="http://127.0.0.1") as client:
        yield client


def log_in(client, email="eva@yourco.example", password=PASSWORD):
    return client.post("/login", data={"email": email, "password": password, "next": "/"}, follow_redirects=False)


def test_it_stores_passwords_as_argon2id_hashes_only(engine):
    with engine.connect() as conn:
        stored = conn.execute(select(User.password_hash).where(User.email == "eva@yourco.example")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_it_refuses_short_passwords_and_unknown_teams(engine):
    with pytest.raises(LoginError, match="at least 10 characters"):
        add_user(engine, email="x@yourco.example", team="sales", password="short")
    with pytest.raises(LoginError, match="unknown team 'finance'"):
        add_user(engine, email="x@yourco.example", team="finance", password=PASSWORD)


def test_a_login_sets_an_httponly_samesite_cookie_and_records_it(client, engine):
    response = log_in(client)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/api/v1/me").json() == {
        "email": "eva@yourco.example",
        "name": "Eva",
        "team": "sales",
        "role": "sales",
    }
    with engine.connect() as conn:
        assert conn.execute(select(AuditEntry.action).where(AuditEntry.action == "log_in")).all()
        secret = cookie.split(f"{COOKIE}=")[1].split(";")[0]
        assert secret not in {row.session_hash for row in conn.execute(select(WebSession.session_hash))}


@pytest.mark.parametrize("email, password", [("eva@yourco.example", "wrong password!"), ("nobody@x.example", PASSWORD)])
def test_a_bad_login_says_the_same_thing_whoever_it_names(client, email, password):
    response = log_in(client, email, password)
    assert response.status_code == 401 and "wrong email or password" in response.text
    assert client.get("/api/v1/me").status_code == 401


def test_a_form_post_without_the_csrf_token_is_refused(client):
    log_in(client)
    refused = client.post("/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403 and "another site" in refused.json()["error"]
    page = client.get("/", headers={"accept": "text/html"})
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_pages_send_strangers_to_the_login_form(client):
    response = client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/"


def test_an_api_token_is_shown_once_and_kept_as_a_hash(client, engine):
    token = create_token(engine, email="eva@yourco.example", name="sync")
    with engine.connect() as conn:
        row = conn.execute(select(ApiToken)).one()
    assert token.startswith("truce_") and row.token_hash != token and token not in row.token_hash
    assert client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"}).json()["role"] == "sales"
    assert client.get("/api/v1/me", headers={"authorization": "Bearer truce_not-a-token"}).status_code == 401


def test_a_viewer_is_a_viewer_whatever_their_team(client, engine):
    token = create_token(engine, email="vic@yourco.example")
    assert client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"}).json()["role"] == "viewer"


def test_the_permission_table_gives_revops_users_and_audit_and_only_sales_handoffs():
    assert role_of("sales", "viewer") == "viewer" and role_of("revops", "member") == "revops"
    assert PERMISSIONS["decide_handoffs"] == ("sales",)
    assert PERMISSIONS["answer_feedback"] == ("marketing",)
    assert PERMISSIONS["edit_targets"] == ("revops",) and PERMISSIONS["read_audit"] == ("revops",)
    assert set(PERMISSIONS["read_reports"]) == set(ROLES)
    with pytest.raises(Forbidden, match="a marketing user may not accept or reject a handoff; allowed: sales"):
        require("marketing", "decide_handoffs")
