"""Taking access back — tokens, sessions, users, passwords — through the CLI, the API and the /access page.

Each revocation holds on the very next request: a revoked token answers 401, an ended session is
sent to the log-in form. Who may do what: RevOps acts on anyone; everyone lists and revokes their
own tokens and changes their own password; a seller can touch nobody else's.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from truce import config as truce_config
from truce.services import logins
from truce.services.logins import add_user, create_token
from truce.store import db
from truce.store.models import AuditEntry, User, WebSession
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple battery horse"
PEOPLE = {
    "eva": ("sales", "member"),
    "sam": ("sales", "member"),
    "ria": ("revops", "member"),
    "vic": ("sales", "viewer"),
}
EMAIL = {name: f"{name}@yourco.example" for name in PEOPLE}


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    """Argon2 at its lowest cost: these tests are about revocation, not the hash."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(logins, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(logins, "_NOBODY", logins._NOBODY)


@pytest.fixture
def engine(sqlite_template, tmp_path):
    path = tmp_path / "revocation.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    for name, (team, access) in PEOPLE.items():
        add_user(engine, email=EMAIL[name], team=team, role=access, password=PASSWORD, actor="setup")
    yield engine
    engine.dispose()


@pytest.fixture
def ids(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: conn.execute(select(User.id).where(User.email == EMAIL[name])).scalar_one() for name in PEOPLE}


@pytest.fixture
def app(engine):
    return create_app(engine, CONFIG)


def _token_id(engine, secret: str) -> int:
    from truce.services.revocation import list_tokens

    return next(t["id"] for t in list_tokens(engine, by=None) if secret.startswith(t["prefix"]))


def _api(app, token: str) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", headers={"authorization": f"Bearer {token}"})


def _browser(app, name: str, password: str = PASSWORD) -> TestClient:
    """A browser logged in as `name`; its `csrf` is the session's token from the /access page."""
    client = TestClient(app, base_url="http://127.0.0.1", headers={"accept": "text/html"})
    response = client.post("/login", data={"email": EMAIL[name], "password": password}, follow_redirects=False)
    assert response.status_code == 303, response.text
    client.csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/access").text)[1]
    return client


def _logged_in(client: TestClient) -> bool:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


def _sent_to_log_in(client: TestClient) -> bool:
    response = client.get("/", follow_redirects=False)
    return response.status_code == 303 and response.headers["location"] == "/login?next=/"


def _works(app, token: str) -> bool:
    status = _api(app, token).get("/api/v1/me").status_code
    assert status in (200, 401)
    return status == 200


def _trail(engine, action: str) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()
    return [(r.actor, r.entity_type, r.entity_id, r.before, r.after) for r in rows]


def _flash(client: TestClient, response) -> str:
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"]).text
    found = re.search(r'<p class="flash (ok|error)"[^>]*>(.*?)</p>', page, re.S)
    return f"{found[1]}: {found[2]}"


# ---- the command line -----------------------------------------------------------------------------


def _truce(engine, *args: str, input: str | None = None):
    from truce.cli import app

    url = engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(app, [*args, "--db", url], input=input)


def test_truce_token_list_shows_every_token_without_its_secret_and_filters_by_user(engine):
    eva_token = create_token(engine, email=EMAIL["eva"], name="sync")
    create_token(engine, email=EMAIL["ria"], name="hubspot")
    listed = _truce(engine, "token", "list", "--json")
    assert listed.exit_code == 0, listed.output
    tokens = json.loads(listed.stdout)
    assert [(t["user"], t["name"], t["revoked_at"]) for t in tokens] == [
        (EMAIL["eva"], "sync", None),
        (EMAIL["ria"], "hubspot", None),
    ]
    assert eva_token not in listed.stdout and eva_token.startswith(tokens[0]["prefix"])
    mine = json.loads(_truce(engine, "token", "list", "--user", EMAIL["eva"], "--json").stdout)
    assert [t["name"] for t in mine] == ["sync"]
    table = _truce(engine, "token", "list")
    assert table.exit_code == 0 and "hubspot" in table.output and eva_token not in table.output


def test_truce_token_revoke_refuses_the_token_on_its_next_request_and_is_audited(engine, app):
    token = create_token(engine, email=EMAIL["eva"], name="sync")
    token_id = _token_id(engine, token)
    assert _works(app, token)
    result = _truce(engine, "token", "revoke", str(token_id), "--as", EMAIL["ria"])
    assert result.exit_code == 0 and f"Token {token_id} (sync, of {EMAIL['eva']}) is revoked" in result.output
    assert not _works(app, token)
    [(actor, kind, entity, before, after)] = _trail(engine, "token_revoke")
    assert (actor, kind, entity) == (EMAIL["ria"], "api_token", token_id)
    assert before == {"user": EMAIL["eva"], "name": "sync", "revoked_at": None}
    assert after["revoked_at"] is not None
    again = _truce(engine, "token", "revoke", str(token_id))
    assert again.exit_code == 1 and "already revoked" in again.output and "Traceback" not in again.output
    missing = _truce(engine, "token", "revoke", "999")
    assert missing.exit_code == 1 and "no API token 999" in missing.output


def test_truce_user_sessions_end_logs_the_user_out_of_every_browser_but_keeps_their_tokens(engine, app, ids):
    first, second = _browser(app, "eva"), _browser(app, "eva")
    other = _browser(app, "sam")
    token = create_token(engine, email=EMAIL["eva"])
    result = _truce(engine, "user", "sessions", "end", EMAIL["eva"], "--as", EMAIL["ria"])
    assert result.exit_code == 0 and "2 sessions ended" in result.output
    assert _sent_to_log_in(first) and _sent_to_log_in(second)
    assert _logged_in(other) and _works(app, token)
    assert _trail(engine, "sessions_end") == [(EMAIL["ria"], "user", ids["eva"], {"sessions": 2}, {"sessions": 0})]


def test_truce_user_deactivate_ends_sessions_refuses_tokens_and_log_ins_until_activated(engine, app, ids):
    browser = _browser(app, "eva")
    token = create_token(engine, email=EMAIL["eva"])
    result = _truce(engine, "user", "deactivate", EMAIL["eva"], "--as", EMAIL["ria"], "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"id": ids["eva"], "email": EMAIL["eva"], "active": False, "sessions_ended": 1}
    assert _sent_to_log_in(browser) and not _works(app, token)
    refused = TestClient(app, base_url="http://127.0.0.1").post(
        "/login", data={"email": EMAIL["eva"], "password": PASSWORD}
    )
    assert refused.status_code == 401 and "wrong email or password" in refused.text
    assert _truce(engine, "user", "deactivate", EMAIL["eva"]).exit_code == 1
    assert _truce(engine, "user", "activate", EMAIL["eva"], "--as", EMAIL["ria"]).exit_code == 0
    assert _works(app, token) and _logged_in(_browser(app, "eva"))
    assert _sent_to_log_in(browser), "the session ended with the deactivation; activating does not bring it back"
    assert _trail(engine, "user_deactivate") == [
        (EMAIL["ria"], "user", ids["eva"], {"active": True, "sessions": 1}, {"active": False, "sessions": 0})
    ]
    assert _trail(engine, "user_activate") == [(EMAIL["ria"], "user", ids["eva"], {"active": False}, {"active": True})]


@pytest.mark.parametrize("revoke", [False, True])
def test_truce_user_password_ends_every_session_and_revokes_tokens_when_asked(engine, app, ids, revoke):
    browser = _browser(app, "eva")
    token = create_token(engine, email=EMAIL["eva"])
    token_id = _token_id(engine, token)
    args = ["user", "password", EMAIL["eva"], "--password-stdin", "--as", EMAIL["ria"]]
    result = _truce(engine, *args, *(["--revoke-tokens"] if revoke else []), input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert _sent_to_log_in(browser)
    assert _works(app, token) != revoke
    client = TestClient(app, base_url="http://127.0.0.1")
    assert client.post("/login", data={"email": EMAIL["eva"], "password": PASSWORD}).status_code == 401
    assert _logged_in(_browser(app, "eva", NEW_PASSWORD))
    after = {"sessions": 0, "tokens": [] if revoke else [token_id]}
    assert _trail(engine, "password_change") == [
        (EMAIL["ria"], "user", ids["eva"], {"sessions": 1, "tokens": [token_id]}, after)
    ]


def test_a_new_password_through_user_add_ends_the_users_sessions_too(engine, app):
    browser = _browser(app, "eva")
    token = create_token(engine, email=EMAIL["eva"])
    args = ["user", "add", EMAIL["eva"], "--team", "sales", "--password-stdin", "--revoke-tokens"]
    assert _truce(engine, *args, input=NEW_PASSWORD + "\n").exit_code == 0
    assert _sent_to_log_in(browser) and not _works(app, token)


def test_a_team_change_without_a_password_keeps_the_users_sessions(engine, app):
    browser = _browser(app, "eva")
    assert (
        _truce(engine, "user", "add", EMAIL["eva"], "--team", "sales", "--role", "viewer", "--no-password").exit_code
        == 0
    )
    assert _logged_in(browser)


# ---- the API ----------------------------------------------------------------------------------------


def test_a_seller_lists_only_their_own_tokens_and_revops_lists_everyones(engine, app):
    tokens = {name: create_token(engine, email=EMAIL[name], name=f"{name}-sync") for name in ("eva", "sam", "ria")}
    seller, revops = _api(app, tokens["eva"]), _api(app, tokens["ria"])
    assert [t["name"] for t in seller.get("/api/v1/tokens").json()["items"]] == ["eva-sync"]
    assert [t["name"] for t in revops.get("/api/v1/tokens").json()["items"]] == ["eva-sync", "sam-sync", "ria-sync"]
    assert [t["user"] for t in revops.get("/api/v1/tokens", params={"user": EMAIL["sam"]}).json()["items"]] == [
        EMAIL["sam"]
    ]
    refused = seller.get("/api/v1/tokens", params={"user": EMAIL["sam"]})
    assert refused.status_code == 403 and "only their own tokens" in refused.json()["error"]
    assert all(tokens["eva"] not in json.dumps(t) for t in revops.get("/api/v1/tokens").json()["items"])


def test_a_seller_revokes_their_own_token_and_it_is_refused_at_once(engine, app):
    spare = create_token(engine, email=EMAIL["eva"], name="spare")
    token = create_token(engine, email=EMAIL["eva"])
    answer = _api(app, token).post(f"/api/v1/tokens/{_token_id(engine, spare)}/revoke")
    assert answer.status_code == 200 and answer.json()["revoked_at"] is not None
    assert not _works(app, spare) and _works(app, token)
    own = _api(app, token).post(f"/api/v1/tokens/{_token_id(engine, token)}/revoke")
    assert own.status_code == 200
    assert _api(app, token).get("/api/v1/me").status_code == 401


def test_a_seller_cannot_revoke_someone_elses_token(engine, app):
    theirs = create_token(engine, email=EMAIL["sam"])
    mine = create_token(engine, email=EMAIL["eva"])
    refused = _api(app, mine).post(f"/api/v1/tokens/{_token_id(engine, theirs)}/revoke")
    assert refused.status_code == 403
    assert f"belongs to {EMAIL['sam']}" in refused.json()["error"]
    assert _works(app, theirs) and _trail(engine, "token_revoke") == []


def test_revops_revokes_anyones_token_and_a_second_revoke_or_an_unknown_id_is_refused(engine, app):
    theirs = create_token(engine, email=EMAIL["sam"])
    revops = _api(app, create_token(engine, email=EMAIL["ria"]))
    token_id = _token_id(engine, theirs)
    assert revops.post(f"/api/v1/tokens/{token_id}/revoke").status_code == 200
    assert not _works(app, theirs)
    again = revops.post(f"/api/v1/tokens/{token_id}/revoke")
    assert again.status_code == 409 and "already revoked" in again.json()["error"]
    assert revops.post("/api/v1/tokens/999/revoke").status_code == 404


def test_revops_deactivates_and_activates_a_user_and_their_session_and_token_follow(engine, app, ids):
    browser = _browser(app, "eva")
    token = create_token(engine, email=EMAIL["eva"])
    revops = _api(app, create_token(engine, email=EMAIL["ria"]))
    done = revops.post(f"/api/v1/users/{ids['eva']}/deactivate")
    assert done.status_code == 200 and done.json()["active"] is False
    assert _sent_to_log_in(browser) and not _works(app, token)
    assert revops.post(f"/api/v1/users/{ids['eva']}/deactivate").status_code == 409
    assert revops.post(f"/api/v1/users/{ids['eva']}/activate").json()["active"] is True
    assert _works(app, token)
    assert revops.post("/api/v1/users/999/deactivate").status_code == 404


def test_revops_cannot_deactivate_themselves(engine, app, ids):
    revops = _api(app, create_token(engine, email=EMAIL["ria"]))
    refused = revops.post(f"/api/v1/users/{ids['ria']}/deactivate")
    assert refused.status_code == 409 and "cannot deactivate yourself" in refused.json()["error"]


@pytest.mark.parametrize("name", ["eva", "vic"])
def test_sellers_and_viewers_cannot_deactivate_users_or_end_their_sessions(engine, app, ids, name):
    caller = _api(app, create_token(engine, email=EMAIL[name]))
    for path in (
        f"/users/{ids['sam']}/deactivate",
        f"/users/{ids['sam']}/activate",
        f"/users/{ids['sam']}/sessions/end",
    ):
        refused = caller.post("/api/v1" + path)
        assert refused.status_code == 403 and "may not" in refused.json()["error"], path
    assert caller.get(f"/api/v1/users/{ids['sam']}/sessions").status_code == 403
    with engine.connect() as conn:
        assert conn.execute(select(User.active).where(User.id == ids["sam"])).scalar_one() is True


def test_revops_lists_and_ends_a_users_sessions(engine, app, ids):
    browsers = [_browser(app, "eva"), _browser(app, "eva")]
    revops = _api(app, create_token(engine, email=EMAIL["ria"]))
    listed = revops.get(f"/api/v1/users/{ids['eva']}/sessions").json()["items"]
    assert len(listed) == 2 and set(listed[0]) == {"id", "created_at", "expires_at"}
    ended = revops.post(f"/api/v1/users/{ids['eva']}/sessions/end")
    assert ended.json() == {"id": ids["eva"], "email": EMAIL["eva"], "sessions_ended": 2}
    assert all(_sent_to_log_in(b) for b in browsers)
    assert revops.get(f"/api/v1/users/{ids['eva']}/sessions").json()["items"] == []


def test_changing_your_own_password_in_a_browser_ends_your_other_sessions_but_not_this_one(engine, app, ids):
    here, elsewhere = _browser(app, "eva"), _browser(app, "eva")
    token = create_token(engine, email=EMAIL["eva"])
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    changed = here.put(
        "/api/v1/me/password", json=body, headers={"x-csrf-token": here.csrf, "accept": "application/json"}
    )
    assert changed.status_code == 200 and changed.json() == {"sessions_ended": 1, "tokens_revoked": []}
    assert _logged_in(here) and _sent_to_log_in(elsewhere) and _works(app, token)
    assert _logged_in(_browser(app, "eva", NEW_PASSWORD))


def test_changing_your_own_password_with_a_token_can_revoke_every_token(engine, app, ids):
    browser = _browser(app, "eva")
    token, other = create_token(engine, email=EMAIL["eva"]), create_token(engine, email=EMAIL["eva"])
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "revoke_tokens": True}
    changed = _api(app, token).put("/api/v1/me/password", json=body)
    assert changed.status_code == 200
    assert changed.json() == {
        "sessions_ended": 1,
        "tokens_revoked": [_token_id(engine, token), _token_id(engine, other)],
    }
    assert _sent_to_log_in(browser) and not _works(app, token) and not _works(app, other)


def test_a_wrong_current_password_changes_nothing(engine, app):
    browser = _browser(app, "eva")
    token = create_token(engine, email=EMAIL["eva"])
    body = {"current_password": "not my password", "new_password": NEW_PASSWORD, "revoke_tokens": True}
    refused = _api(app, token).put("/api/v1/me/password", json=body)
    assert refused.status_code == 400 and "current password is not right" in refused.json()["error"]
    assert _logged_in(browser) and _works(app, token) and _trail(engine, "password_change") == []


def test_revops_setting_a_password_through_the_api_ends_the_users_sessions(engine, app):
    browser = _browser(app, "eva")
    revops = _api(app, create_token(engine, email=EMAIL["ria"]))
    body = {"email": EMAIL["eva"], "team": "sales", "password": NEW_PASSWORD}
    assert revops.post("/api/v1/users", json=body).status_code == 200
    assert _sent_to_log_in(browser)


# ---- the /access page -----------------------------------------------------------------------------


def test_a_seller_sees_only_their_own_tokens_on_the_access_page(engine, app):
    create_token(engine, email=EMAIL["eva"], name="eva-sync")
    create_token(engine, email=EMAIL["sam"], name="sam-sync")
    page = _browser(app, "eva").get("/access")
    assert page.status_code == 200 and "Your API tokens" in page.text
    assert "eva-sync" in page.text and "sam-sync" not in page.text
    assert 'id="users"' not in page.text and "/deactivate" not in page.text
    assert 'action="/access/password"' in page.text


def test_revops_sees_users_sessions_and_every_token_with_their_buttons(engine, app, ids):
    _browser(app, "eva")
    create_token(engine, email=EMAIL["sam"], name="sam-sync")
    page = _browser(app, "ria").get("/access").text
    eva_row = re.search(rf'<tr data-user="{re.escape(EMAIL["eva"])}">.*?</tr>', page, re.S)[0]
    assert f'action="/access/users/{ids["eva"]}/sessions/end"' in eva_row
    assert f'action="/access/users/{ids["eva"]}/deactivate"' in eva_row
    ria_row = re.search(rf'<tr data-user="{re.escape(EMAIL["ria"])}">.*?</tr>', page, re.S)[0]
    assert "/deactivate" not in ria_row, "no button to lock yourself out"
    assert "sam-sync" in page and "/access/tokens/" in page


def test_the_access_forms_revoke_end_deactivate_and_activate(engine, app, ids):
    eva = _browser(app, "eva")
    token = create_token(engine, email=EMAIL["sam"])
    ria = _browser(app, "ria")
    post = lambda path: ria.post(path, data={"csrf": ria.csrf}, follow_redirects=False)  # noqa: E731
    said = _flash(ria, post(f"/access/tokens/{_token_id(engine, token)}/revoke"))
    assert said.startswith("ok: Token") and not _works(app, token)
    assert _flash(ria, post(f"/access/users/{ids['eva']}/sessions/end")) == f"ok: {EMAIL['eva']}: 1 sessions ended."
    assert _sent_to_log_in(eva)
    assert _flash(ria, post(f"/access/users/{ids['sam']}/deactivate")).startswith(f"ok: {EMAIL['sam']} is inactive")
    assert _flash(ria, post(f"/access/users/{ids['sam']}/deactivate")) == f"error: {EMAIL['sam']} is already inactive"
    assert _flash(ria, post(f"/access/users/{ids['sam']}/activate")) == f"ok: {EMAIL['sam']} is active again."


def test_a_seller_posting_revops_forms_or_someone_elses_token_is_refused_with_a_page(engine, app, ids):
    theirs = create_token(engine, email=EMAIL["sam"])
    eva = _browser(app, "eva")
    for path in (f"/access/users/{ids['sam']}/deactivate", f"/access/users/{ids['sam']}/sessions/end",
                 f"/access/tokens/{_token_id(engine, theirs)}/revoke"):  # fmt: skip
        refused = eva.post(path, data={"csrf": eva.csrf}, follow_redirects=False)
        assert refused.status_code == 403 and "<html" in refused.text, path
    assert _works(app, theirs)


def test_an_access_form_without_its_csrf_token_is_refused(engine, app, ids):
    token = create_token(engine, email=EMAIL["eva"])
    eva = _browser(app, "eva")
    refused = eva.post(f"/access/tokens/{_token_id(engine, token)}/revoke", data={}, follow_redirects=False)
    assert refused.status_code == 403 and _works(app, token)


def test_the_password_form_keeps_this_session_and_ends_the_others(engine, app):
    here, elsewhere = _browser(app, "eva"), _browser(app, "eva")
    form = {"csrf": here.csrf, "current_password": PASSWORD, "new_password": NEW_PASSWORD}
    differ = here.post("/access/password", data={**form, "repeat_password": "something else"}, follow_redirects=False)
    assert _flash(here, differ) == "error: the new password and its repetition differ; nothing was changed"
    wrong = {**form, "current_password": "not my password", "repeat_password": NEW_PASSWORD}
    said = _flash(here, here.post("/access/password", data=wrong, follow_redirects=False))
    assert said == "error: the current password is not right; nothing was changed"
    done = here.post("/access/password", data={**form, "repeat_password": NEW_PASSWORD}, follow_redirects=False)
    assert _flash(here, done) == "ok: Your password is changed: 1 other sessions ended."
    assert _logged_in(here) and _sent_to_log_in(elsewhere)
    with engine.connect() as conn:
        assert conn.execute(select(WebSession.id)).all() != []
