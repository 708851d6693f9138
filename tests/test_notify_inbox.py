"""The in-app inbox through the API and the page: each person reads, marks and chooses only their own;
the bell shows the unread count on every page; RevOps alone sees failed deliveries."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from notify_servers import make_config, owe_one
from sqlalchemy import select

from truce.services.logins import add_user, create_token
from truce.services.notify.delivery import deliver
from truce.store.models import AuditEntry
from truce.web.app import create_app

UTC = dt.UTC
OPEN = dt.datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture
def office(engine):
    """Eva (sales) and Rita (revops), each with a token, and two notifications each, fanned out."""
    config = make_config('[notify]\nbase_url = "https://truce.yourco.example"\n')
    ids = {}
    for email, team in (("eva@yourco.example", "sales"), ("rita@yourco.example", "revops")):
        ids[email] = add_user(engine, email=email, team=team, password=PASSWORD)
    owe_one(engine, "lead_routed", ids["eva@yourco.example"], "Lead for Eva", OPEN, link="/handoffs")
    owe_one(engine, "sla_due_soon", ids["eva@yourco.example"], "Clock for Eva", OPEN + dt.timedelta(minutes=5))
    owe_one(engine, "lead_routed", ids["rita@yourco.example"], "Lead for Rita", OPEN)
    deliver(engine, config, OPEN + dt.timedelta(minutes=5))
    app = create_app(engine, config)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.tokens = {email: create_token(engine, email=email) for email in ids}
        yield client


def _as(client, email: str) -> dict:
    return {"authorization": f"Bearer {client.tokens[email]}"}


def test_each_person_lists_only_their_own_notifications_newest_first(office):
    eva = office.get("/api/v1/notifications", headers=_as(office, "eva@yourco.example")).json()
    assert eva["unread"] == 2
    assert [n["subject"] for n in eva["items"]] == ["Clock for Eva", "Lead for Eva"]
    assert eva["items"][1]["url"] == "https://truce.yourco.example/handoffs"
    rita = office.get("/api/v1/notifications", headers=_as(office, "rita@yourco.example")).json()
    assert [n["subject"] for n in rita["items"]] == ["Lead for Rita"]


def test_marking_anothers_notification_read_is_refused_as_not_found(office):
    ritas = office.get("/api/v1/notifications", headers=_as(office, "rita@yourco.example")).json()["items"][0]["id"]
    refused = office.post(f"/api/v1/notifications/{ritas}/read", headers=_as(office, "eva@yourco.example"))
    assert refused.status_code == 404
    assert office.get("/api/v1/notifications", headers=_as(office, "rita@yourco.example")).json()["unread"] == 1


def test_marking_read_one_then_all_brings_the_count_to_zero(office):
    eva = _as(office, "eva@yourco.example")
    first = office.get("/api/v1/notifications", headers=eva).json()["items"][0]["id"]
    assert office.post(f"/api/v1/notifications/{first}/read", headers=eva).status_code == 200
    assert office.get("/api/v1/notifications?unread=true", headers=eva).json()["unread"] == 1
    assert office.post("/api/v1/notifications/read-all", headers=eva).json()["marked_read"] == 1
    assert office.get("/api/v1/notifications", headers=eva).json()["unread"] == 0


def test_preferences_are_read_set_and_audited(office, engine):
    eva = _as(office, "eva@yourco.example")
    shown = office.get("/api/v1/me/notification-preferences", headers=eva).json()
    lead = next(k for k in shown["kinds"] if k["kind"] == "lead_routed")
    assert lead["channels"] == ["inbox", "email"] and lead["chosen"] is False
    body = {"channels": {"lead_routed": ["email"], "mql_pace": []}}
    changed = office.put("/api/v1/me/notification-preferences", headers=eva, json=body).json()
    chosen = {k["kind"]: k["channels"] for k in changed["kinds"] if k["chosen"]}
    assert chosen == {"lead_routed": ["email"], "mql_pace": []}
    with engine.connect() as conn:
        audit = (
            conn.execute(select(AuditEntry).where(AuditEntry.action == "notification_preferences_set")).mappings().one()
        )
    assert audit["actor"] == "eva@yourco.example" and audit["after"] == body["channels"]


def test_an_unknown_kind_or_channel_is_refused_naming_the_field(office):
    eva = _as(office, "eva@yourco.example")
    unknown_kind = office.put(
        "/api/v1/me/notification-preferences", headers=eva, json={"channels": {"nope": ["inbox"]}}
    )
    assert unknown_kind.status_code == 422
    assert unknown_kind.json()["errors"][0]["path"] == "body.channels.nope"
    unknown_channel = office.put(
        "/api/v1/me/notification-preferences", headers=eva, json={"channels": {"lead_routed": ["pager"]}}
    )
    assert unknown_channel.status_code == 422


def test_only_revops_sees_failed_deliveries(office):
    assert office.get("/api/v1/notifications/failed", headers=_as(office, "eva@yourco.example")).status_code == 403
    found = office.get("/api/v1/notifications/failed", headers=_as(office, "rita@yourco.example"))
    assert found.status_code == 200 and found.json() == {"broken_channels": [], "deliveries": []}


def _log_in(client, email: str) -> str:
    client.post("/login", data={"email": email, "password": PASSWORD, "next": "/"})
    page = client.get("/notifications", headers={"accept": "text/html"})
    return page.text.split('name="csrf" value="')[1].split('"')[0]


def test_the_bell_shows_the_unread_count_and_the_page_marks_read(office):
    csrf = _log_in(office, "eva@yourco.example")
    page = office.get("/", headers={"accept": "text/html"})
    assert 'data-testid="unread-count">2<' in page.text
    inbox = office.get("/notifications", headers={"accept": "text/html"})
    assert "Lead for Eva" in inbox.text and "Lead for Rita" not in inbox.text
    assert 'id="failed"' not in inbox.text  # not RevOps
    first = office.get("/api/v1/notifications").json()["items"][0]["id"]
    done = office.post(f"/notifications/{first}/read", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert 'data-testid="unread-count">1<' in office.get("/", headers={"accept": "text/html"}).text
    stale = office.post("/notifications/read-all", data={"csrf": "stale"}, headers={"accept": "text/html"})
    assert stale.status_code == 403
    office.post("/notifications/read-all", data={"csrf": csrf})
    assert 'data-testid="unread-count"' not in office.get("/", headers={"accept": "text/html"}).text


def test_the_preferences_form_saves_the_ticked_channels(office):
    csrf = _log_in(office, "eva@yourco.example")
    office.post("/notifications/preferences", data={"csrf": csrf, "lead_routed:inbox": "on", "sla_breach:email": "on"})
    chosen = {
        k["kind"]: k["channels"]
        for k in office.get("/api/v1/me/notification-preferences").json()["kinds"]
        if k["kind"] in ("lead_routed", "sla_breach", "mql_pace")
    }
    assert chosen == {"lead_routed": ["inbox"], "sla_breach": ["email"], "mql_pace": []}


def test_revops_sees_the_failed_section(office):
    _log_in(office, "rita@yourco.example")
    page = office.get("/notifications", headers={"accept": "text/html"})
    assert 'id="failed"' in page.text and "Every delivery went out." in page.text
