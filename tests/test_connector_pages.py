"""RevOps sees and syncs the CRM connections without a terminal: GET /api/v1/connections, the
rejects, POST …/sync, and the /connections page with its "Sync now" form. Only RevOps; the page
and the API give the same numbers; no secret ever appears in either."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from truce.services.connectors import connections
from truce.services.connectors.errors import CrmError
from truce.services.connectors.protocol import CrmObject, Page, WriteResult
from truce.services.logins import add_user, create_token
from truce.store.errors import StoreBusy
from truce.store.models import AuditEntry, CrmConnection, CrmSyncRun
from truce.web.app import create_app

PASSWORD = "correct horse battery"
SEALED_TOKEN = "pat-na1-sealed-5e5e5e"
ENV_SECRET = "sf-client-secret-0x99"
HOOK_SECRET = "hook-secret-1234abcd"
PEOPLE = {
    "ria": ("revops", "member"),
    "eva": ("sales", "member"),
    "mia": ("marketing", "member"),
    "vic": ("sales", "viewer"),
}


def person(crm_id: str, email: str, modified: str) -> dict:
    return {"external_id": crm_id, "email": email, "first_name": "Ann", "last_name": crm_id,
            "lifecycle_stage": "lead", "created_at": "2026-11-01T09:00:00Z", "_modified": modified}  # fmt: skip


class Crm:
    """Three HubSpot contacts, one with a bad e-mail (a reject), served as two pages."""

    system = "hubspot"

    def __init__(self):
        self.records = [person("1", "a@acme.example", "2026-12-01T10:00:01Z"),
                        person("2", "not-an-email", "2026-12-01T10:00:02Z"),
                        person("3", "c@acme.example", "2026-12-01T10:00:03Z")]  # fmt: skip
        self.fail = False

    def objects(self):
        return [CrmObject("contacts", "contacts", "hubspot")]

    def pages(self, obj, cursor, position, full):
        if self.fail:
            raise CrmError("HubSpot answered 401: the private app's token was revoked", status=401)
        changed = [r for r in self.records if cursor is None or r["_modified"] > cursor]
        for start in range(0, len(changed), 2):
            chunk = changed[start : start + 2]
            rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in chunk]
            yield Page(rows={"contacts": rows}, cursor=chunk[-1]["_modified"], seen=[r["external_id"] for r in chunk])

    def fetch(self, obj, crm_ids):
        rows = [
            {k: v for k, v in r.items() if not k.startswith("_")} for r in self.records if r["external_id"] in crm_ids
        ]
        return Page(rows={"contacts": rows})

    def write_back(self, object_name, crm_id, fields, read_at, context=None):
        return WriteResult("skipped")

    def close(self):
        pass


@pytest.fixture
def site(engine, default_config, monkeypatch, tmp_path):
    monkeypatch.setenv("TRUCE_SECRET_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("SF_SECRET", ENV_SECRET)
    Request = connections.Request
    connections.connect(engine, default_config, Request("hubspot", secret=SEALED_TOKEN, webhook_secret=HOOK_SECRET),
                        actor="ria@yourco.example")  # fmt: skip
    connections.connect(engine, default_config, Request("salesforce", base_url="http://127.0.0.1:9", secret_env="SF_SECRET",
                        settings={"client_id": "cid"}), actor="ria@yourco.example")  # fmt: skip
    crm = Crm()
    monkeypatch.setattr("truce.services.connectors.sync.open_connector", lambda connection, config, engine: crm)
    tokens = {}
    for name, (team, access) in PEOPLE.items():
        add_user(engine, email=f"{name}@yourco.example", team=team, role=access, password=PASSWORD)
        tokens[name] = {"authorization": f"Bearer {create_token(engine, email=f'{name}@yourco.example')}"}
    app = create_app(engine, default_config, config_path=tmp_path / "truce.toml")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.as_, client.crm, client.engine = tokens, crm, engine
        yield client


def logged_in(client, name: str) -> str:
    """Log the browser in; the CSRF token of its session."""
    client.post("/login", data={"email": f"{name}@yourco.example", "password": PASSWORD, "next": "/"})
    page = client.get("/access", headers={"accept": "text/html"})
    return page.text.split('name="csrf" value="')[1].split('"')[0]


def trail(engine, action: str) -> list[tuple[str, int]]:
    """(actor, entries) per audit entry of this action, in order."""
    with engine.connect() as conn:
        return [
            (actor, 1)
            for actor in conn.execute(
                select(AuditEntry.actor).where(AuditEntry.action == action).order_by(AuditEntry.id)
            ).scalars()
        ]


def sealed_values(engine) -> list[str]:
    with engine.connect() as conn:
        row = conn.execute(
            select(CrmConnection.secret_sealed, CrmConnection.webhook_secret_sealed).where(
                CrmConnection.name == "hubspot"
            )
        ).one()
    return [row[0], row[1]]


def test_revops_syncs_through_the_api_and_sees_cursors_records_and_rejects(site):
    answer = site.post("/api/v1/connections/hubspot/sync", headers=site.as_["ria"])
    assert answer.status_code == 200, answer.text
    report = answer.json()
    # Three records read in two pages; one refused for its e-mail; two new contacts.
    assert (report["totals"]["read"], report["totals"]["inserted"], report["totals"]["rejected"]) == (3, 2, 1)
    listed = {c["name"]: c for c in site.get("/api/v1/connections", headers=site.as_["ria"]).json()["connections"]}
    hubspot = listed["hubspot"]
    assert hubspot["cursors"] == [{"object": "contacts", "cursor": "2026-12-01T10:00:03Z", "position": None,
                                   "records": 3, "updated_at": hubspot["cursors"][0]["updated_at"]}]  # fmt: skip
    assert hubspot["open_rejects"] == 1 and hubspot["last_run"]["status"] == "ok"
    assert listed["salesforce"]["last_sync_at"] is None and listed["salesforce"]["cursors"] == []
    rejects = site.get("/api/v1/connections/hubspot/rejects", headers=site.as_["ria"]).json()
    assert [(r["crm_id"], "not an email address" in r["reason"]) for r in rejects["items"]] == [("2", True)]
    assert trail(site.engine, "crm_sync_page") == [("ria@yourco.example", 1)], (
        "two small pages go in together, in her name"
    )


def test_the_page_reports_the_numbers_the_api_reports(site):
    site.post("/api/v1/connections/hubspot/sync", headers=site.as_["ria"])
    api = {c["name"]: c for c in site.get("/api/v1/connections", headers=site.as_["ria"]).json()["connections"]}
    logged_in(site, "ria")
    html = site.get("/connections", headers={"accept": "text/html"}).text
    section = html.split('data-connection="hubspot"')[1].split("</section>")[0]
    records = re.search(r'data-object="contacts">.*?data-testid="records">(\d+)<', section, re.S).group(1)
    rejects = re.search(r'data-testid="open-rejects">(\d+)<', section).group(1)
    assert (
        (int(records), int(rejects))
        == (api["hubspot"]["cursors"][0]["records"], api["hubspot"]["open_rejects"])
        == (3, 1)
    )
    assert "2026-12-01T10:00:03Z" in section and api["hubspot"]["base_url"] in section
    assert "sealed in the store" in section and '<a href="/connections/hubspot/rejects">' in section
    assert "environment variable SF_SECRET" in html
    listing = site.get("/connections/hubspot/rejects", headers={"accept": "text/html"}).text
    assert "not an email address" in listing and "<td>2</td>" in listing


def test_sync_now_on_the_page_runs_a_sync_and_says_what_it_did(site):
    csrf = logged_in(site, "ria")
    done = site.post("/connections/hubspot/sync", data={"csrf": csrf}, headers={"accept": "text/html"})
    assert done.status_code == 200 and "hubspot synced: 3 records read, 2 new" in done.text
    assert trail(site.engine, "crm_sync_page") == [("ria@yourco.example", 1)]
    stale = site.post("/connections/hubspot/sync", data={"csrf": "not-the-token"}, headers={"accept": "text/html"})
    assert stale.status_code == 403
    with site.engine.connect() as conn:
        runs = conn.execute(select(func.count()).select_from(CrmSyncRun)).scalar_one()
    assert runs == 1, "the refused form ran nothing"


def test_the_page_shows_the_crms_message_when_a_sync_stops(site):
    site.crm.fail = True
    csrf = logged_in(site, "ria")
    page = site.post("/connections/hubspot/sync", data={"csrf": csrf}, headers={"accept": "text/html"})
    assert "token was revoked" in page.text
    again = site.get("/connections", headers={"accept": "text/html"}).text
    assert 'data-testid="last-error"' in again and "token was revoked" in again


@pytest.mark.parametrize("name", ["eva", "mia", "vic"])
def test_sellers_marketers_and_viewers_are_refused(site, name):
    for method, path in (("GET", "/api/v1/connections"), ("GET", "/api/v1/connections/hubspot/rejects"),
                         ("POST", "/api/v1/connections/hubspot/sync")):  # fmt: skip
        answer = site.request(method, path, headers=site.as_[name])
        assert answer.status_code == 403 and "may not see the CRM connections" in answer.json()["error"]
    csrf = logged_in(site, name)
    assert site.get("/connections", headers={"accept": "text/html"}).status_code == 403
    assert site.get("/connections/hubspot/rejects", headers={"accept": "text/html"}).status_code == 403
    assert (
        site.post("/connections/hubspot/sync", data={"csrf": csrf}, headers={"accept": "text/html"}).status_code == 403
    )
    assert 'href="/connections"' not in site.get("/", headers={"accept": "text/html"}).text
    with site.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CrmSyncRun)).scalar_one() == 0


def test_revops_finds_the_page_in_the_navigation(site):
    logged_in(site, "ria")
    assert 'href="/connections"' in site.get("/", headers={"accept": "text/html"}).text


def test_no_secret_appears_in_the_page_or_the_api(site):
    site.post("/api/v1/connections/hubspot/sync", headers=site.as_["ria"])
    answers = [site.get("/api/v1/connections", headers=site.as_["ria"]).text,
               site.get("/api/v1/connections/hubspot/rejects", headers=site.as_["ria"]).text,
               site.get("/api/v1/openapi.json").text]  # fmt: skip
    logged_in(site, "ria")
    answers += [site.get("/connections", headers={"accept": "text/html"}).text,
                site.get("/connections/hubspot/rejects", headers={"accept": "text/html"}).text]  # fmt: skip
    secrets = [SEALED_TOKEN, ENV_SECRET, HOOK_SECRET, *sealed_values(site.engine)]
    assert all(secrets)
    for text in answers:
        for secret in secrets:
            assert secret not in text


def test_the_sync_route_answers_each_refusal_as_documented(site, monkeypatch, engine):
    assert site.post("/api/v1/connections/nobody/sync", headers=site.as_["ria"]).status_code == 404
    assert site.get("/api/v1/connections/nobody/rejects", headers=site.as_["ria"]).status_code == 404
    site.crm.fail = True
    stopped = site.post("/api/v1/connections/hubspot/sync", headers=site.as_["ria"])
    assert stopped.status_code == 502 and "token was revoked" in stopped.json()["error"]
    site.crm.fail = False
    connections.revoke(engine, "salesforce", actor="ria@yourco.example")
    revoked = site.post("/api/v1/connections/salesforce/sync", headers=site.as_["ria"])
    assert revoked.status_code == 409 and "revoked" in revoked.json()["error"]

    def busy(*args, **kwargs):
        raise StoreBusy("the store is busy with another write; nothing was saved, try again", retry_after=3)

    monkeypatch.setattr("truce.services.connectors.sync.sync", busy)
    answer = site.post("/api/v1/connections/hubspot/sync", headers=site.as_["ria"])
    assert answer.status_code == 503 and answer.headers["retry-after"] == "3"
