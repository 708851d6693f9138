"""Records through the API: pages and filters checked against the store itself, writes audited before and after."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from truce import config as truce_config
from truce.services import demo
from truce.services.logins import add_user, create_token
from truce.store import db
from truce.store.models import Account, AuditEntry, Contact, Handoff, Opportunity, StageChange, Touchpoint, User
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
TEAMS = {
    "eva": ("sales", "member"),
    "mia": ("marketing", "member"),
    "ria": ("revops", "member"),
    "vic": ("sales", "viewer"),
}


def _client(engine) -> TestClient:
    tokens = {}
    for name, (team, access) in TEAMS.items():
        email = f"{name}@yourco.example"
        add_user(engine, email=email, team=team, role=access)
        tokens[name] = {"authorization": f"Bearer {create_token(engine, email=email)}"}
    client = TestClient(create_app(engine, CONFIG), base_url="http://127.0.0.1")
    client.as_ = tokens
    return client


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """A read-only demo company: pages and filters are checked against its tables."""
    engine = db.connect(f"sqlite:///{tmp_path_factory.mktemp('records') / 'demo.db'}")
    demo.build(engine, contacts=120, seed=5, config=CONFIG)
    with _client(engine) as client:
        yield client, engine
    engine.dispose()


@pytest.fixture
def api(engine):
    """A store with four users, on each backend."""
    with _client(engine) as client:
        yield client, engine


def _rows(engine, *columns, where=None):
    query = select(*columns).order_by(columns[0])
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def _walk(client, url: str, headers, limit: int) -> list[dict]:
    path, _, query = url.partition("?")
    filters = dict(parse_qsl(query))
    found, cursor = [], None
    for _ in range(1000):
        params = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        found += page["items"]
        cursor = page["next"]
        if cursor is None:
            return found
    raise AssertionError("the pages never ended")


# ---- pages and filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "model"),
    [("/api/v1/contacts", Contact), ("/api/v1/accounts", Account), ("/api/v1/touchpoints", Touchpoint),
     ("/api/v1/opportunities", Opportunity), ("/api/v1/users", User), ("/api/v1/stage-changes", StageChange)],
)  # fmt: skip
def test_the_pages_hold_every_record_once_in_id_order(demo_store, url, model):
    client, engine = demo_store
    found = _walk(client, url, client.as_["vic"], limit=37)
    assert [r["id"] for r in found] == [row[0] for row in _rows(engine, model.id)]


def test_offset_pages_are_the_same_records_as_cursor_pages(demo_store):
    client, _ = demo_store
    headers = client.as_["eva"]
    first = client.get("/api/v1/contacts", params={"limit": 10}, headers=headers).json()
    second = client.get("/api/v1/contacts", params={"limit": 10, "cursor": first["next"]}, headers=headers).json()
    by_offset = client.get("/api/v1/contacts", params={"limit": 10, "offset": 10}, headers=headers).json()
    assert by_offset["items"] == second["items"]
    assert client.get("/api/v1/contacts", headers=headers).json()["items"][:10] == first["items"]  # default 50


@pytest.mark.parametrize(
    ("query", "path"),
    [({"limit": 0}, "query.limit"), ({"limit": 501}, "query.limit"), ({"cursor": "abc"}, "query.cursor"), ({"cursor": "9" * 19}, "query.cursor"),
     ({"cursor": "5", "offset": 5}, "query.offset"), ({"offset": -1}, "query.offset"), ({"stage": "lead"}, "query.stage"),
     ({"stag": "mql"}, "query.stag"), ({"updated_since": "last week"}, "query.updated_since"),
     ({"account_id": "x"}, "query.account_id")],
)  # fmt: skip
def test_a_bad_page_or_filter_is_refused_with_its_path(demo_store, query, path):
    client, _ = demo_store
    response = client.get("/api/v1/contacts", params=query, headers=client.as_["eva"])
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == [path]


def test_contacts_filter_by_stage_owner_and_updated_since(demo_store):
    client, engine = demo_store
    owner_id, owner = _rows(engine, User.id, User.email, where=User.team == "sales")[0]
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    contacts = _rows(engine, Contact.id, Contact.stage, Contact.owner_id, Contact.updated_at)
    for stage in ("mql", "sql", "customer"):
        found = _walk(
            client, f"/api/v1/contacts?stage={stage}&owner={owner}&updated_since=2026-01-01", client.as_["vic"], 5
        )
        expected = [c[0] for c in contacts if c[1] == stage and c[2] == owner_id and c[3] >= since]
        assert [r["id"] for r in found] == expected
        assert all(r["owner"] == owner and r["stage"] == stage for r in found)
    assert sum(
        len(_walk(client, f"/api/v1/contacts?stage={s}", client.as_["vic"], 500)) for s in CONFIG.funnel.stage_keys
    ) == len(contacts)


@pytest.mark.parametrize(
    ("url", "model", "keep"),
    [
        ("/api/v1/accounts?key_account=true", Account, lambda r: r.is_key_account),
        ("/api/v1/opportunities?status=won", Opportunity, lambda r: r.status == "won"),
        ("/api/v1/touchpoints?kind=sales&since=2026-03-01T00:00:00Z&until=2026-04-01T00:00:00Z", Touchpoint,
         lambda r: r.kind == "sales" and dt.datetime(2026, 3, 1, tzinfo=dt.UTC) <= r.occurred_at < dt.datetime(2026, 4, 1, tzinfo=dt.UTC)),
        ("/api/v1/users?team=marketing&active=true", User, lambda r: r.team == "marketing" and r.active),
        ("/api/v1/stage-changes?entity_type=contact&to_stage=mql", StageChange,
         lambda r: r.entity_type == "contact" and r.to_stage == "mql"),
        ("/api/v1/campaigns?owning_team=sales", None, None),
    ],
)  # fmt: skip
def test_each_kind_of_record_filters_as_the_store_says(demo_store, url, model, keep):
    client, engine = demo_store
    found = _walk(client, url, client.as_["vic"], 50)
    if model is None:
        assert all(r["owning_team"] == "sales" for r in found)
        return
    with engine.connect() as conn:
        expected = [r.id for r in conn.execute(select(model).order_by(model.id)) if keep(r)]
    assert expected and [r["id"] for r in found] == expected


def test_users_are_read_without_their_password_hash(demo_store):
    client, _ = demo_store
    response = client.get("/api/v1/users", params={"limit": 500}, headers=client.as_["vic"])
    assert "argon2" not in response.text and "password" not in response.text
    eva = next(u for u in response.json()["items"] if u["email"] == "eva@yourco.example")
    assert (eva["team"], eva["role"]) == ("sales", "sales")
    assert client.get(f"/api/v1/users/{eva['id']}", headers=client.as_["vic"]).json() == eva


def test_one_record_reads_and_a_missing_one_is_a_404(demo_store):
    client, engine = demo_store
    (first,) = _rows(engine, Contact.id)[0]
    assert client.get(f"/api/v1/contacts/{first}", headers=client.as_["vic"]).json()["id"] == first
    missing = client.get("/api/v1/contacts/999999", headers=client.as_["vic"])
    assert missing.status_code == 404 and missing.json() == {"error": "no contact with id 999999", "errors": []}


# ---- writes ---------------------------------------------------------------------------------------


def _audit(engine, entity_type: str) -> list:
    with engine.connect() as conn:
        return conn.execute(
            select(AuditEntry).where(AuditEntry.entity_type == entity_type).order_by(AuditEntry.id)
        ).all()


def test_creating_and_changing_an_account_is_audited_with_before_and_after(api):
    client, engine = api
    created = client.post(
        "/api/v1/accounts",
        json={"name": "Acme", "domain": "https://www.Acme.example/about", "owner": "eva@yourco.example"},
        headers=client.as_["eva"],
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert (account["domain"], account["owner"], account["is_key_account"]) == (
        "acme.example",
        "eva@yourco.example",
        False,
    )
    changed = client.patch(
        f"/api/v1/accounts/{account['id']}", json={"segment": "enterprise", "owner": None}, headers=client.as_["mia"]
    )
    assert changed.status_code == 200 and (changed.json()["segment"], changed.json()["owner"]) == ("enterprise", None)
    entries = _audit(engine, "account")
    assert [(e.actor, e.action, e.entity_id) for e in entries] == [
        ("eva@yourco.example", "create", account["id"]),
        ("mia@yourco.example", "update", account["id"]),
    ]
    assert entries[0].before is None and entries[0].after["domain"] == "acme.example"
    eva_id = account["owner_id"]
    assert entries[1].before == {"segment": None, "owner_id": eva_id}
    assert entries[1].after == {"segment": "enterprise", "owner_id": None}
    audit = client.get("/api/v1/audit", params={"entity_type": "account"}, headers=client.as_["ria"]).json()
    assert [(e["action"], e["before"], e["after"]) for e in audit["items"]][0] == (
        "update",
        entries[1].before,
        entries[1].after,
    )


def test_a_change_that_changes_nothing_writes_nothing(api):
    client, engine = api
    account = client.post("/api/v1/accounts", json={"name": "Acme", "region": "EMEA"}, headers=client.as_["eva"]).json()
    again = client.patch(f"/api/v1/accounts/{account['id']}", json={"region": "EMEA"}, headers=client.as_["eva"])
    assert again.status_code == 200 and again.json()["updated_at"] == account["updated_at"]
    assert len(_audit(engine, "account")) == 1


def test_a_value_another_record_holds_is_a_409(api):
    client, _ = api
    headers = client.as_["eva"]
    client.post(
        "/api/v1/accounts", json={"name": "Acme", "domain": "acme.example", "external_id": "A1"}, headers=headers
    )
    other = client.post("/api/v1/accounts", json={"name": "Other"}, headers=headers).json()
    for body in ({"domain": "ACME.example"}, {"external_id": "A1"}):
        response = client.patch(f"/api/v1/accounts/{other['id']}", json=body, headers=headers)
        assert response.status_code == 409 and "already belongs to account" in response.json()["error"]
    client.post("/api/v1/contacts", json={"email": "ann@acme.example"}, headers=headers)
    twice = client.post("/api/v1/contacts", json={"email": " Ann@Acme.example"}, headers=headers)
    assert twice.status_code == 409


@pytest.mark.parametrize(
    ("url", "body", "path"),
    [
        ("/api/v1/accounts", {"name": "Acme", "employees": False}, "body.employees"),
        ("/api/v1/accounts", {"name": "Acme", "employees": "12"}, "body.employees"),
        ("/api/v1/accounts", {"name": "Acme", "colour": "red"}, "body.colour"),
        ("/api/v1/accounts", {"name": ""}, "body.name"),
        ("/api/v1/accounts", {"name": "A" * 201}, "body.name"),
        ("/api/v1/accounts", {"name": "Ac\u0000me"}, "body.name"),
        ("/api/v1/accounts", {"name": "Acme", "domain": "not a domain"}, "body.domain"),
        ("/api/v1/accounts", {"name": "Acme", "owner": "nobody@yourco.example"}, "body.owner"),
        ("/api/v1/contacts", {"email": "not-an-email"}, "body.email"),
        ("/api/v1/contacts", {"email": "ann@acme.example", "account_id": 999}, "body.account_id"),
        ("/api/v1/contacts", {"email": "ann@acme.example", "stage": "lost"}, "body.stage"),
        ("/api/v1/campaigns", {"name": "Fall webinar", "channel": "webinar", "budget": 1000}, "body.budget"),
        ("/api/v1/campaigns", {"name": "W", "channel": "webinar", "starts_on": "2026-02-01", "ends_on": "2026-01-01"}, "body.ends_on"),
        ("/api/v1/campaigns", {"name": "W", "channel": "webinar", "starts_on": "1 Feb 2026"}, "body.starts_on"),
        ("/api/v1/opportunities", {"amount": False, "stage": "Prospecting"}, "body.amount"),
        ("/api/v1/opportunities", {"amount": "12.345", "stage": "Prospecting"}, "body.amount"),
        ("/api/v1/opportunities", {"amount": 1e30, "stage": "Prospecting"}, "body.amount"),
        ("/api/v1/opportunities", {"amount": 100, "stage": "Prospecting", "discount_rate": 1.5}, "body.discount_rate"),
        ("/api/v1/opportunities", {"amount": 100, "stage": "Prospecting", "currency": "usd"}, "body.currency"),
        ("/api/v1/opportunities", {"stage": "Prospecting"}, "body.amount"),
    ],
)  # fmt: skip
def test_a_bad_field_is_refused_with_its_path_and_nothing_is_written(api, url, body, path):
    client, engine = api
    response = client.post(url, json=body, headers=client.as_["eva"])
    assert response.status_code == 422, response.text
    assert path in [e["path"] for e in response.json()["errors"]]
    with engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "create")).scalar()
            == 0
        )


def test_a_new_contact_enters_the_funnel_in_the_ledger_and_at_mql_the_handoff_queue(api):
    client, engine = api
    created = client.post(
        "/api/v1/contacts", json={"email": "ann@acme.example", "stage": "mql", "source_channel": "Paid Search"},
        headers=client.as_["mia"],
    ).json()  # fmt: skip
    assert (created["stage"], created["source_channel"]) == ("mql", "paid_search")
    moves = _rows(engine, StageChange.entity_id, StageChange.from_stage, StageChange.to_stage, StageChange.origin)
    assert moves == [(created["id"], None, "mql", "api")]
    assert _rows(engine, Handoff.contact_id, Handoff.status) == [(created["id"], "open")]
    queue = client.get("/api/v1/handoffs", headers=client.as_["vic"]).json()
    assert [lead["email"] for lead in queue] == ["ann@acme.example"]
    plain = client.post("/api/v1/contacts", json={"email": "bob@acme.example"}, headers=client.as_["mia"]).json()
    assert plain["stage"] == "inquiry"


def test_a_contacts_stage_does_not_move_through_a_patch(api):
    client, engine = api
    contact = client.post("/api/v1/contacts", json={"email": "ann@acme.example"}, headers=client.as_["eva"]).json()
    response = client.patch(f"/api/v1/contacts/{contact['id']}", json={"stage": "sql"}, headers=client.as_["eva"])
    assert response.status_code == 422 and response.json()["errors"][0]["path"] == "body.stage"
    assert _rows(engine, Contact.stage) == [("inquiry",)]


def test_only_marketing_sets_a_campaigns_budget_and_cost(api):
    client, engine = api
    campaign = client.post(
        "/api/v1/campaigns", json={"name": "Fall webinar", "channel": "Webinar"}, headers=client.as_["eva"]
    ).json()
    url = f"/api/v1/campaigns/{campaign['id']}/cost"
    for who in ("eva", "ria", "vic"):
        assert client.put(url, json={"budget": "5000"}, headers=client.as_[who]).status_code == 403
    set_cost = client.put(url, json={"budget": "5000", "actual_cost": 4250.5}, headers=client.as_["mia"])
    assert set_cost.status_code == 200 and (set_cost.json()["budget"], set_cost.json()["actual_cost"]) == (
        "5000.00",
        "4250.50",
    )
    cleared = client.put(url, json={"actual_cost": None}, headers=client.as_["mia"]).json()
    assert (cleared["budget"], cleared["actual_cost"]) == ("5000.00", None)
    costs = [e for e in _audit(engine, "campaign") if e.action == "campaign_cost"]
    assert [(e.actor, e.before, e.after) for e in costs] == [
        ("mia@yourco.example", {"budget": None, "actual_cost": None}, {"budget": "5000.00", "actual_cost": "4250.50"}),
        ("mia@yourco.example", {"actual_cost": "4250.50"}, {"actual_cost": None}),
    ]


def test_a_deal_keeps_its_prices_consistent_and_a_new_stage_goes_into_the_ledger(api):
    client, engine = api
    headers = client.as_["eva"]
    deal = client.post(
        "/api/v1/opportunities", json={"amount": "8000", "list_amount": 10000, "stage": "Negotiation"}, headers=headers
    ).json()
    assert (deal["discount_rate"], deal["status"], deal["currency"]) == ("0.2000", "open", "USD")
    won = client.patch(f"/api/v1/opportunities/{deal['id']}", json={"stage": "Closed Won"}, headers=headers).json()
    assert won["status"] == "won"
    priced = client.patch(f"/api/v1/opportunities/{deal['id']}", json={"amount": 9000}, headers=headers).json()
    assert priced["discount_rate"] == "0.1000"
    moves = _rows(engine, StageChange.entity_type, StageChange.from_stage, StageChange.to_stage, StageChange.origin)
    assert moves == [("opportunity", None, "Negotiation", "api"), ("opportunity", "Negotiation", "Closed Won", "api")]
    audit = _audit(engine, "opportunity")
    assert audit[1].before == {"stage": "Negotiation", "status": "open"}
    assert audit[1].after == {"stage": "Closed Won", "status": "won"}


def test_a_user_is_added_by_revops_and_never_shown_with_a_password(api):
    client, _ = api
    body = {"email": "new@yourco.example", "team": "marketing", "password": "a long passphrase"}
    assert client.post("/api/v1/users", json=body, headers=client.as_["eva"]).status_code == 403
    added = client.post("/api/v1/users", json=body, headers=client.as_["ria"])
    assert added.status_code == 200 and added.json()["role"] == "marketing"
    assert "passphrase" not in added.text and "argon" not in added.text
    short = client.post("/api/v1/users", json={**body, "password": "short"}, headers=client.as_["ria"])
    assert short.status_code == 422 and short.json()["errors"][0]["path"] == "body.password"


def test_the_audit_trail_is_for_revops_newest_first_and_filtered(api):
    client, _ = api
    for name in ("One", "Two", "Three"):
        client.post("/api/v1/accounts", json={"name": name}, headers=client.as_["eva"])
    for who in ("eva", "mia", "vic"):
        assert client.get("/api/v1/audit", headers=client.as_[who]).status_code == 403
    pages = _walk(client, "/api/v1/audit?actor=eva@yourco.example&action=create", client.as_["ria"], 2)
    assert [e["after"]["name"] for e in pages] == ["Three", "Two", "One"]
    assert all(e["actor"] == "eva@yourco.example" for e in pages)
    everything = _walk(client, "/api/v1/audit", client.as_["ria"], 500)
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert {"user_add", "token_create", "create"} <= {e["action"] for e in everything}


def test_no_face_of_the_api_can_change_the_ledger_or_the_audit_trail(api):
    client, _ = api
    for path in ("/api/v1/stage-changes", "/api/v1/audit", "/api/v1/stage-changes/1", "/api/v1/audit/1"):
        for method in ("DELETE", "PUT", "PATCH", "POST"):
            response = client.request(method, path, headers=client.as_["ria"], json={})
            assert response.status_code in (404, 405), (method, path)
            assert response.headers.get("allow", "GET") == "GET"
