"""Every route of the OpenAPI document × every role: allowed or refused exactly as the permission table says.

ROUTES is written out by hand: the action each route must check. A route the document has
and ROUTES does not (or the other way round) fails, so a new route cannot ship without a
declared permission. The expected answer of each call is derived from
truce.domain.access.PERMISSIONS, never from the app itself.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from truce import config as truce_config
from truce.domain.access import PERMISSIONS, ROLES
from truce.services.logins import add_user, create_token
from truce.store import db
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
DOCS = (Path(__file__).parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
PASSWORD = "correct horse battery"

# (method, path) → the one action the route checks; None: open to anyone.
ROUTES: dict[tuple[str, str], str | None] = {
    ("GET", "/api/v1/health"): None,
    ("GET", "/api/v1/me"): "read_reports",
    ("GET", "/api/v1/reports/funnel"): "read_reports",
    ("GET", "/api/v1/reports/sla"): "read_reports",
    ("GET", "/api/v1/reports/custody"): "read_reports",
    ("GET", "/api/v1/reports/attribution"): "read_reports",
    ("GET", "/api/v1/reports/roi"): "read_reports",
    ("GET", "/api/v1/reports/budget"): "read_reports",
    ("GET", "/api/v1/reports/pricing"): "read_reports",
    ("GET", "/api/v1/reports/survey"): "read_reports",
    ("GET", "/api/v1/reports/feedback-themes"): "read_reports",
    ("GET", "/api/v1/reports/targets"): "read_reports",
    ("GET", "/api/v1/reports/credit"): "read_reports",
    ("GET", "/api/v1/reports/metrics"): "read_reports",
    ("GET", "/api/v1/reports/directory"): "read_reports",
    ("GET", "/api/v1/reports/brief"): "read_reports",
    ("GET", "/api/v1/config/funnel"): "read_reports",
    ("PUT", "/api/v1/config/funnel"): "edit_funnel_config",
    ("GET", "/api/v1/survey/statements"): "read_reports",
    ("GET", "/api/v1/accounts"): "read_records",
    ("POST", "/api/v1/accounts"): "write_records",
    ("GET", "/api/v1/accounts/{account_id}"): "read_records",
    ("PATCH", "/api/v1/accounts/{account_id}"): "write_records",
    ("GET", "/api/v1/contacts"): "read_records",
    ("POST", "/api/v1/contacts"): "write_records",
    ("GET", "/api/v1/contacts/{contact_id}"): "read_records",
    ("PATCH", "/api/v1/contacts/{contact_id}"): "write_records",
    ("GET", "/api/v1/campaigns"): "read_records",
    ("POST", "/api/v1/campaigns"): "write_records",
    ("GET", "/api/v1/campaigns/{campaign_id}"): "read_records",
    ("PATCH", "/api/v1/campaigns/{campaign_id}"): "write_records",
    ("PUT", "/api/v1/campaigns/{campaign_id}/cost"): "edit_campaign_cost",
    ("GET", "/api/v1/opportunities"): "read_records",
    ("POST", "/api/v1/opportunities"): "write_records",
    ("GET", "/api/v1/opportunities/{opportunity_id}"): "read_records",
    ("PATCH", "/api/v1/opportunities/{opportunity_id}"): "write_records",
    ("GET", "/api/v1/touchpoints"): "read_records",
    ("GET", "/api/v1/touchpoints/{touchpoint_id}"): "read_records",
    ("GET", "/api/v1/users"): "read_records",
    ("POST", "/api/v1/users"): "manage_users",
    ("GET", "/api/v1/users/{user_id}"): "read_records",
    ("GET", "/api/v1/stage-changes"): "read_records",
    ("GET", "/api/v1/audit"): "read_audit",
    ("GET", "/api/v1/handoffs"): "read_records",
    ("GET", "/api/v1/handoffs/cards"): "read_records",
    ("POST", "/api/v1/handoffs/{contact}/accept"): "decide_handoffs",
    ("POST", "/api/v1/handoffs/{contact}/reject"): "decide_handoffs",
    ("POST", "/api/v1/handoffs/{contact}/touch"): "decide_handoffs",
    ("POST", "/api/v1/handoffs/{contact}/claim"): "decide_handoffs",
    ("POST", "/api/v1/handoffs/{contact}/undo"): "decide_handoffs",
    ("POST", "/api/v1/handoffs/{contact}/assign"): "assign_handoffs",
    ("GET", "/api/v1/feedback"): "read_records",
    ("POST", "/api/v1/feedback"): "add_feedback",
    ("POST", "/api/v1/feedback/{item_id}/answer"): "answer_feedback",
    ("PUT", "/api/v1/targets"): "edit_targets",
    ("POST", "/api/v1/survey/responses"): "take_survey",
    ("GET", "/api/v1/account-plans"): "read_records",
    ("PUT", "/api/v1/account-plans/{account}"): "edit_account_plans",
    ("POST", "/api/v1/ingest/touchpoints"): "ingest_events",
    ("POST", "/api/v1/ingest/stage-changes"): "ingest_events",
    ("GET", "/api/v1/tokens"): "manage_own_credentials",
    ("POST", "/api/v1/tokens/{token_id}/revoke"): "manage_own_credentials",
    ("POST", "/api/v1/users/{user_id}/deactivate"): "manage_users",
    ("POST", "/api/v1/users/{user_id}/activate"): "manage_users",
    ("GET", "/api/v1/users/{user_id}/sessions"): "manage_users",
    ("POST", "/api/v1/users/{user_id}/sessions/end"): "manage_users",
    ("PUT", "/api/v1/me/password"): "manage_own_credentials",
    ("GET", "/api/v1/jobs"): "read_jobs",
    ("POST", "/api/v1/meetings"): "hold_meetings",
    ("GET", "/api/v1/meetings/{period}"): "read_reports",
    ("GET", "/api/v1/decisions"): "read_reports",
    ("POST", "/api/v1/decisions"): "hold_meetings",
    ("POST", "/api/v1/decisions/{decision_id}/done"): "close_decisions",
    ("POST", "/api/v1/decisions/{decision_id}/drop"): "close_decisions",
    ("GET", "/api/v1/initiatives"): "read_reports",
    ("POST", "/api/v1/initiatives"): "adopt_initiatives",
    ("GET", "/api/v1/discount-approvals"): "read_records",
    ("GET", "/api/v1/discount-approvals/{approval_id}"): "read_records",
    ("POST", "/api/v1/discount-approvals"): "request_discounts",
    ("POST", "/api/v1/discount-approvals/{approval_id}/approve"): "answer_discounts",
    ("POST", "/api/v1/discount-approvals/{approval_id}/refuse"): "answer_discounts",
    ("POST", "/api/v1/discount-approvals/{approval_id}/withdraw"): "request_discounts",
    ("GET", "/api/v1/notifications"): "read_own_notifications",
    ("POST", "/api/v1/notifications/{notification_id}/read"): "read_own_notifications",
    ("POST", "/api/v1/notifications/read-all"): "read_own_notifications",
    ("GET", "/api/v1/notifications/failed"): "manage_notifications",
    ("GET", "/api/v1/me/notification-preferences"): "read_own_notifications",
    ("PUT", "/api/v1/me/notification-preferences"): "read_own_notifications",
    ("GET", "/api/v1/connections"): "manage_connections",
    ("GET", "/api/v1/connections/{name}/rejects"): "manage_connections",
    ("POST", "/api/v1/connections/{name}/sync"): "manage_connections",
}
# Webhook receivers: no role, no log-in; each delivery is authenticated by its signature or its
# shared secret (tests/test_connector_webhooks.py), so docs/api.md names "signature" as their permission.
SIGNED = {("POST", "/hooks/hubspot/{connection}"), ("POST", "/hooks/salesforce/{connection}")}
CALLERS = (*ROLES, "nobody")
# Path parameters naming records that do not exist: an allowed caller gets 404 or 422, never 401/403.
PATH_VALUES = {"contact": "nobody@nowhere.example", "account": "nowhere.example"}


DOCUMENT = create_app(db.connect("sqlite://"), CONFIG).openapi()


def _document_routes() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item}


def _a_bad_query(method: str, path: str) -> dict:
    """A query parameter with a value no parameter takes (NUL): checked after the permission."""
    names = [p["name"] for p in DOCUMENT["paths"][path][method.lower()].get("parameters", []) if p["in"] == "query"]
    return {names[0]: "\x00"} if names else {}


@pytest.fixture(scope="module")
def client(tmp_path_factory, sqlite_template):
    path = tmp_path_factory.mktemp("permissions") / "truce.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    tokens = {}
    for role, team, access in (
        ("sales", "sales", "member"),
        ("marketing", "marketing", "member"),
        ("revops", "revops", "member"),
        ("viewer", "sales", "viewer"),
    ):
        email = f"{role}@yourco.example"
        add_user(engine, email=email, team=team, role=access, password=PASSWORD)
        tokens[role] = create_token(engine, email=email)
    app = create_app(engine, CONFIG, config_path=path.parent / "truce.toml")  # funnel edits land here
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        test_client.tokens = tokens
        yield test_client
    engine.dispose()


def _call(client, method: str, path: str, caller: str, cheap: bool = False):
    url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "999999"), path)
    headers = {} if caller == "nobody" else {"authorization": f"Bearer {client.tokens[caller]}"}
    body = {} if method in ("POST", "PUT", "PATCH") else None
    query = _a_bad_query(method, path) if cheap else None
    return client.request(method, url, headers=headers, json=body, params=query)


def test_every_route_of_the_document_declares_one_action():
    routes = _document_routes()
    assert routes - set(ROUTES) - SIGNED == set(), "routes without a declared action in ROUTES"
    assert set(ROUTES) - routes == set(), "ROUTES names routes the app does not have"
    assert {action for action in ROUTES.values() if action} <= set(PERMISSIONS)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES), ids=[f"{m} {p}" for m, p in sorted(ROUTES)])
def test_the_api_docs_name_each_routes_permission(method, path):
    row = next((line for line in DOCS.splitlines() if line.startswith(f"| {method} | `{path}` |")), None)
    assert row is not None, f"docs/api.md has no row for {method} {path}"
    documented = row.split("|")[3].strip()
    assert documented == (ROUTES[method, path] or "none")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), sorted(ROUTES), ids=[f"{m} {p}" for m, p in sorted(ROUTES)])
def test_each_role_is_allowed_or_refused_as_the_permission_table_says(client, method, path, caller):
    action = ROUTES[method, path]
    # The first role allowed makes the real call (a report runs on the empty store); the others
    # send a bad query value, refused only after the permission check, to keep the run short.
    first = action is not None and caller == next((r for r in ROLES if r in PERMISSIONS[action]), None)
    response = _call(client, method, path, caller, cheap=action is not None and not first)
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    if action is None:
        assert response.status_code == 200
    elif caller == "nobody":
        assert response.status_code == 401, response.text
    elif caller in PERMISSIONS[action]:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403, response.text
        assert f"a {caller} user may not" in response.json()["error"]


@pytest.mark.parametrize(("method", "path"), sorted(SIGNED))
def test_the_webhook_receivers_are_documented_as_signed_and_refuse_unsigned_calls(client, method, path):
    row = next((line for line in DOCS.splitlines() if line.startswith(f"| {method} | `{path}` |")), None)
    assert row is not None and row.split("|")[3].strip() == "signature"
    answer = client.request(method, path.replace("{connection}", "nobody"), content=b"[]")
    assert answer.status_code in (400, 401, 404) and answer.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("path", sorted({p for _, p in ROUTES}))
def test_no_route_deletes_anything(client, path):
    url = re.sub(r"\{(\w+)\}", "1", path)
    response = client.delete(url, headers={"authorization": f"Bearer {client.tokens['revops']}"})
    assert response.status_code == 405
    assert "DELETE" not in response.headers["allow"]


def test_a_browser_session_must_send_its_csrf_token_to_write(client):
    client.post("/login", data={"email": "revops@yourco.example", "password": PASSWORD, "next": "/"})
    body = {"metric": "revenue", "period": "2026-Q4", "amount": "100000"}
    refused = client.put("/api/v1/targets", json=body)
    assert refused.status_code == 403 and "another site" in refused.json()["error"]
    page = client.get("/", headers={"accept": "text/html"})
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    assert client.put("/api/v1/targets", json=body, headers={"x-csrf-token": csrf}).status_code == 200
    assert client.get("/api/v1/me").json()["role"] == "revops"  # reading needs no token
    client.cookies.clear()
