"""What truce owes a CRM when it decides: one crm_write_back message per decision and connection,
in the decision's own transaction, only for switched-on fields of leads the sync has read."""

from __future__ import annotations

import datetime as dt

import pytest
from writeback_scene import MQL_AT, READ_AT, company, config_with, make_mql, owed

from truce.services import handoff, scoring, sla

REJECTED_AT = MQL_AT + dt.timedelta(hours=2)


def test_it_owes_one_write_back_of_a_rejection_with_its_reason(engine, monkeypatch):
    config = config_with("handoff_status", "rejection_reason")
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])
    assert owed(engine) == [], "routing's owner is not switched on"
    handoff.reject(engine, config, "ann@acme.example", "eva@seller.example", "no_budget", at=REJECTED_AT)
    [message] = owed(engine)
    handoff_id = _handoff_id(engine, ids["ann"])
    assert message["key"] == f"crm:hubspot:contacts:101:handoff:{handoff_id}:rejected"
    assert message["user_id"] is None
    assert (message["connection"], message["object"], message["crm_id"]) == ("hubspot", "contacts", "101")
    assert message["fields"] == {"handoff_status": "rejected", "rejection_reason": "no_budget"}
    assert message["read_at"] == READ_AT.isoformat()


def test_it_writes_the_new_stage_and_clears_the_reason_on_acceptance(engine, monkeypatch):
    config = config_with("handoff_status", "rejection_reason", "lifecycle_stage")
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])
    handoff.accept(engine, config, "ann@acme.example", "eva@seller.example", at=REJECTED_AT)
    [message] = owed(engine)
    assert message["fields"] == {"handoff_status": "accepted", "rejection_reason": None, "lifecycle_stage": "sal"}


def test_a_rejection_that_rolls_back_owes_nothing(engine, monkeypatch):
    config = config_with("handoff_status", "rejection_reason")
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])

    def broken(*args, **kwargs):
        raise RuntimeError("the decision failed after the write-back was owed")

    monkeypatch.setattr(handoff, "_late", broken)  # runs after the move, inside the decision's transaction
    with pytest.raises(RuntimeError):
        handoff.reject(engine, config, "ann@acme.example", "eva@seller.example", "no_budget", at=REJECTED_AT)
    assert owed(engine) == []


def test_switched_off_owes_nothing(engine, monkeypatch):
    config = config_with()  # every field off, as by default
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])
    handoff.reject(engine, config, "ann@acme.example", "eva@seller.example", "no_budget", at=REJECTED_AT)
    assert owed(engine) == []


def test_switched_on_for_the_other_crm_owes_nothing_to_this_one(engine, monkeypatch):
    config = config_with("handoff_status", "rejection_reason", system="salesforce")
    ids = company(engine, monkeypatch)  # ann has a HubSpot id only, and only a HubSpot connection exists
    make_mql(engine, config, ids["ann"])
    handoff.reject(engine, config, "ann@acme.example", "eva@seller.example", "no_budget", at=REJECTED_AT)
    assert owed(engine) == []


def test_a_lead_without_a_crm_id_owes_nothing(engine, monkeypatch):
    config = config_with("handoff_status", "rejection_reason")
    ids = company(engine, monkeypatch, hubspot_id=None)
    make_mql(engine, config, ids["ann"])
    handoff.reject(engine, config, "ann@acme.example", "eva@seller.example", "no_budget", at=REJECTED_AT)
    assert owed(engine) == []


def test_a_lead_of_an_object_never_synced_owes_nothing(engine, monkeypatch):
    config = config_with("handoff_status", "rejection_reason")
    ids = company(engine, monkeypatch, cursor=None)  # imported from a file: truce never read it from HubSpot
    make_mql(engine, config, ids["ann"])
    handoff.reject(engine, config, "ann@acme.example", "eva@seller.example", "no_budget", at=REJECTED_AT)
    assert owed(engine) == []


def test_a_revoked_connection_is_owed_nothing(engine, monkeypatch):
    from truce.services.connectors import connections

    config = config_with("handoff_status", "rejection_reason")
    ids = company(engine, monkeypatch)
    connections.revoke(engine, "hubspot", "revops@x.example")
    make_mql(engine, config, ids["ann"])
    handoff.reject(engine, config, "ann@acme.example", "eva@seller.example", "no_budget", at=REJECTED_AT)
    assert owed(engine) == []


def test_a_decision_that_came_from_the_crm_is_not_echoed_back(engine, monkeypatch):
    from truce.services.lifecycle import move_contact
    from truce.store.work import unit_of_work

    config = config_with("handoff_status", "lifecycle_stage")
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])
    with unit_of_work(engine, "sync", "sync") as work:  # a sync brought HubSpot's own move to SAL
        move_contact(work.conn, config, ids["ann"], "sal", at=REJECTED_AT, actor="sync", origin="sync")
    assert owed(engine) == []


def test_routing_and_assignment_owe_the_owner(engine, monkeypatch):
    config = config_with("owner")
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])
    handoff_id = _handoff_id(engine, ids["ann"])
    [routed] = owed(engine)
    assert routed["fields"]["owner"] in {"eva@seller.example", "sam@seller.example"}
    other = "sam@seller.example" if routed["fields"]["owner"] == "eva@seller.example" else "eva@seller.example"
    _make_revops(engine)
    handoff.assign(engine, config, "ann@acme.example", other, "rev@x.example")
    assert [m["fields"] for m in owed(engine)] == [routed["fields"], {"owner": other}]
    assert owed(engine)[1]["key"] == f"crm:hubspot:contacts:101:owner:handoff:{handoff_id}:user:{ids[other]}"


def test_a_changed_score_owes_the_score_and_its_explanation_link(engine, monkeypatch):
    config = config_with("mql_score", "score_link")
    ids = company(engine, monkeypatch)
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    scoring.refresh(engine, config, now)
    [message] = owed(engine)
    # enterprise segment 20 + "VP" title 15 + Software industry 5, no touches: 40, below the line of 60.
    assert message["fields"] == {"mql_score": "40", "score_link": f"http://127.0.0.1:8000/leads/{ids['ann']}/score"}
    scoring.refresh(engine, config, now + dt.timedelta(days=1))
    assert len(owed(engine)) == 1, "an unchanged score owes nothing more"


def test_an_sla_breach_owes_its_flag_once(engine, monkeypatch):
    config = config_with("sla_breach")
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])
    month_later = MQL_AT + dt.timedelta(days=30)
    sla.sweep(engine, config, month_later)
    sla.sweep(engine, config, month_later + dt.timedelta(hours=1))
    # No sales touch and no decision in a month: both of sales' deadlines passed, one breach each.
    assert sorted(m["fields"]["sla_breach"] for m in owed(engine)) == ["decision_late", "first_touch_late"]
    assert all(m["key"].startswith("crm:hubspot:contacts:101:sla_breach:event:") for m in owed(engine))


def test_a_late_decision_owes_its_breach_with_the_decision(engine, monkeypatch):
    config = config_with("sla_breach", "handoff_status")
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])
    handoff.accept(engine, config, "ann@acme.example", "eva@seller.example", at=MQL_AT + dt.timedelta(days=20))
    fields = [m["fields"] for m in owed(engine)]
    assert {"sla_breach": "decision_late"} in fields and {"handoff_status": "accepted"} in fields


def _handoff_id(engine, contact_id: int) -> int:
    from sqlalchemy import select

    from truce.store.models import Handoff

    with engine.connect() as conn:
        return conn.execute(select(Handoff.id).where(Handoff.contact_id == contact_id)).scalar_one()


def _make_revops(engine) -> None:
    from conftest import writing
    from sqlalchemy import insert

    from truce.store.models import User

    with writing(engine) as conn:
        conn.execute(insert(User), {"email": "rev@x.example", "name": "rev", "team": "revops", "active": True,
                                    "is_leader": False, "created_at": MQL_AT})  # fmt: skip


def test_the_score_link_opens_the_leads_score_explained(engine, monkeypatch):
    from fastapi.testclient import TestClient

    from truce.services.logins import add_user
    from truce.web.app import create_app

    config = config_with("mql_score", "score_link")
    ids = company(engine, monkeypatch)
    scoring.refresh(engine, config, dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    [message] = owed(engine)
    path = message["fields"]["score_link"].removeprefix("http://127.0.0.1:8000")
    add_user(engine, email="mia@marketing.example", team="marketing", password="pass phrase 1234")
    with TestClient(create_app(engine, config), base_url="http://127.0.0.1", headers={"accept": "text/html"}) as client:
        client.post("/login", data={"email": "mia@marketing.example", "password": "pass phrase 1234"})
        page = client.get(path)
        assert page.status_code == 200 and "ann@acme.example: score 40" in page.text
        assert client.get(f"/leads/{ids['ann'] + 1000}/score").status_code == 404


def test_an_undo_tells_the_crm_the_lead_is_open_again_and_a_new_decision_is_written_again(engine, monkeypatch):
    from truce.services import desk

    config = config_with("handoff_status", "rejection_reason", "lifecycle_stage")
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])
    handoff.reject(engine, config, "ann@acme.example", "eva@seller.example", "no_budget", at=REJECTED_AT)
    desk.undo(engine, config, "ann@acme.example", "eva@seller.example")
    handoff.accept(engine, config, "ann@acme.example", "eva@seller.example", at=REJECTED_AT)
    handoff_id = _handoff_id(engine, ids["ann"])
    messages = owed(engine)
    assert [m["key"].removeprefix("crm:hubspot:contacts:101:") for m in messages] == [
        f"handoff:{handoff_id}:rejected",
        f"handoff:{handoff_id}:undo-1",
        f"handoff:{handoff_id}:accepted:after-undo-1",
    ]
    assert [m["fields"] for m in messages] == [
        {"handoff_status": "rejected", "rejection_reason": "no_budget", "lifecycle_stage": "recycled"},
        {"handoff_status": "open", "rejection_reason": None, "lifecycle_stage": "mql"},
        {"handoff_status": "accepted", "rejection_reason": None, "lifecycle_stage": "sal"},
    ]


def test_the_undo_window_is_the_configs(engine, monkeypatch):
    from truce import config as truce_config
    from truce.services import desk
    from truce.services.handoff import HandoffRefused

    config = config_with("handoff_status")
    ids = company(engine, monkeypatch)
    make_mql(engine, config, ids["ann"])
    handoff.accept(engine, config, "ann@acme.example", "eva@seller.example", at=REJECTED_AT)
    shut = truce_config.TruceConfig.model_validate(
        config.model_dump() | {"sla": config.sla.model_dump() | {"sales": config.sla.sales.model_dump() | {"undo_minutes": 0}}}
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    with pytest.raises(HandoffRefused, match="can be undone for 0 minutes only"):
        desk.undo(engine, shut, "ann@acme.example", "eva@seller.example", now=later)
    assert desk.undoable(engine, shut, "eva@seller.example", now=later) == []
    assert [u["email"] for u in desk.undoable(engine, config, "eva@seller.example", now=later)] == ["ann@acme.example"]
