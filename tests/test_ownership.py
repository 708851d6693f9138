"""The server checks who may touch which record, not only which role.

A seller decides only the leads routed to them (a sales leader may decide any; RevOps or a sales
leader reassigns); pushed stage changes follow the handoff's rules; contacts created through the
API start at an entry stage; survey answers are given as one's own team.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app as cli
from truce.services import records
from truce.services.logins import add_user, create_token
from truce.store.models import Contact, Handoff, StageChange, SurveyResponse, User
from truce.store.work import unit_of_work
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "correct horse battery"
PEOPLE = {
    "eva": ("sales", False),
    "sam": ("sales", False),
    "lou": ("sales", True),  # leads the sales team
    "mia": ("marketing", False),
    "ria": ("revops", False),
}
EMAIL = {name: f"{name}@yourco.example" for name in PEOPLE}


@pytest.fixture
def store(engine, tmp_path):
    ids = {}
    for name, (team, _leader) in PEOPLE.items():
        ids[name] = add_user(engine, email=EMAIL[name], team=team, password=PASSWORD, actor="setup")
    with unit_of_work(engine, "setup", "test") as work:  # leaders get no leads routed here: only eva and sam
        work.conn.execute(update(User).where(User.id == ids["lou"]).values(is_leader=True, access="viewer"))
        work.record("user_update", "user", ids["lou"])
    for name in ("ann", "bob", "cy"):
        ids[name] = records.create_record(
            engine, CONFIG, "contacts", {"email": f"{name}@acme.example", "stage": "mql"}, actor_id=ids["ria"],
            actor="setup",
        )["id"]  # fmt: skip
    with unit_of_work(engine, "setup", "test") as work:
        work.conn.execute(update(User).where(User.id == ids["lou"]).values(access="member"))
        work.record("user_update", "user", ids["lou"])
    app = create_app(engine, CONFIG, config_path=tmp_path / "truce.toml")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.token = {name: {"authorization": f"Bearer {create_token(engine, email=EMAIL[name])}"} for name in PEOPLE}
        yield engine, client, ids


def _owner(engine, contact_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(User.email).join(Handoff, Handoff.owner_id == User.id).where(Handoff.contact_id == contact_id)
        ).scalar_one_or_none()


def _stage(engine, contact_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(Contact.stage).where(Contact.id == contact_id)).scalar_one()


def test_leads_are_routed_to_the_two_sellers_in_turn(store):
    engine, _, ids = store
    assert [_owner(engine, ids[name]) for name in ("ann", "bob", "cy")] == [EMAIL["eva"], EMAIL["sam"], EMAIL["eva"]]


def test_a_seller_cannot_decide_a_lead_routed_to_someone_else(store):
    engine, client, ids = store
    refused = client.post(f"/api/v1/handoffs/{ids['bob']}/accept", headers=client.token["eva"])
    assert refused.status_code == 403
    assert refused.json()["error"].startswith(f"this lead is routed to {EMAIL['sam']}; only {EMAIL['sam']}")
    rejected = client.post(
        f"/api/v1/handoffs/{ids['bob']}/reject", json={"reason": "no_budget"}, headers=client.token["eva"]
    )
    assert rejected.status_code == 403
    assert _stage(engine, ids["bob"]) == "mql"
    assert client.post(f"/api/v1/handoffs/{ids['bob']}/accept", headers=client.token["sam"]).status_code == 200
    assert _stage(engine, ids["bob"]) == "sal"


def test_a_sales_leader_decides_any_lead_and_marketing_none(store):
    engine, client, ids = store
    assert client.post(f"/api/v1/handoffs/{ids['ann']}/accept", headers=client.token["lou"]).status_code == 200
    assert client.post(f"/api/v1/handoffs/{ids['cy']}/accept", headers=client.token["mia"]).status_code == 403
    with engine.connect() as conn:
        decided = conn.execute(select(Handoff.decided_by_id).where(Handoff.contact_id == ids["ann"])).scalar_one()
    assert decided == ids["lou"]


def test_the_web_form_refuses_another_sellers_lead_naming_the_owner(store):
    engine, client, ids = store
    client.headers["accept"] = "text/html"
    client.post("/login", data={"email": EMAIL["eva"], "password": PASSWORD})
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/handoffs").text)[1]
    page = client.post("/handoffs/reject", data={"email": "bob@acme.example", "reason": "no_need", "csrf": csrf})
    assert page.status_code == 403 and f"routed to {EMAIL['sam']}" in page.text
    assert _stage(engine, ids["bob"]) == "mql"


def test_the_cli_refuses_another_sellers_lead_in_one_line(store, database_url):
    engine, _, ids = store
    done = CliRunner().invoke(
        cli, ["handoff", "accept", "bob@acme.example", "--as", EMAIL["eva"], "--db", database_url]
    )
    assert done.exit_code == 1 and f"routed to {EMAIL['sam']}" in done.output and "Traceback" not in done.output
    assert _stage(engine, ids["bob"]) == "mql"


def test_revops_reassigns_a_lead_and_the_new_owner_decides_it(store):
    engine, client, ids = store
    by_seller = client.post(
        f"/api/v1/handoffs/{ids['bob']}/assign", json={"owner": EMAIL["eva"]}, headers=client.token["sam"]
    )
    assert by_seller.status_code == 403 and "only RevOps or a sales leader may assign" in by_seller.json()["error"]
    by_marketing = client.post(
        f"/api/v1/handoffs/{ids['bob']}/assign", json={"owner": EMAIL["eva"]}, headers=client.token["mia"]
    )
    assert by_marketing.status_code == 403
    moved = client.post(
        f"/api/v1/handoffs/{ids['bob']}/assign", json={"owner": EMAIL["eva"]}, headers=client.token["ria"]
    )
    assert moved.status_code == 200
    assert moved.json() == {"email": "bob@acme.example", "owner": EMAIL["eva"], "previous_owner": EMAIL["sam"]}
    assert client.post(f"/api/v1/handoffs/{ids['bob']}/accept", headers=client.token["sam"]).status_code == 403
    assert client.post(f"/api/v1/handoffs/{ids['bob']}/accept", headers=client.token["eva"]).status_code == 200
    to_marketing = client.post(
        f"/api/v1/handoffs/{ids['cy']}/assign", json={"owner": EMAIL["mia"]}, headers=client.token["ria"]
    )
    assert to_marketing.status_code == 409 and "not one" in to_marketing.json()["error"]  # fmt: skip


# ---- pushed stage changes -------------------------------------------------------------------------


def _push(client, *items) -> dict:
    return client.post("/api/v1/ingest/stage-changes", json={"items": list(items)}, headers=client.token["ria"])


def _move(key: str, email: str, to_stage: str, by: str | None, day: int = 3) -> dict:
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=day)
    return {"external_id": key, "contact_email": email, "to_stage": to_stage, "changed_at": at.isoformat(),
            **({"changed_by_email": by} if by else {})}  # fmt: skip


def test_a_pushed_move_out_of_the_queue_by_someone_who_may_not_decide_is_refused(store):
    engine, client, ids = store
    for by, says in (
        (EMAIL["mia"], "only active sales users decide handoffs"),
        (EMAIL["sam"], f"routed to {EMAIL['eva']}"),
        (None, "name the seller who made it (changed_by_email)"),
    ):
        refused = _push(client, _move("M1", "ann@acme.example", "sal", by))
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["errors"]
        assert (error["path"], error["type"]) == ("body.items.0.changed_by_email", "permission")
        assert says in error["message"]
    assert _stage(engine, ids["ann"]) == "mql"
    with engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(StageChange).where(StageChange.to_stage == "sal")).scalar_one()
            == 0
        )


def test_a_pushed_decision_closes_the_handoff_and_the_same_move_again_is_a_duplicate(store):
    engine, client, ids = store
    move = _move("M1", "ann@acme.example", "sal", EMAIL["eva"])
    done = _push(client, move)
    assert done.status_code == 200 and done.json()["inserted"] == 1
    with engine.connect() as conn:
        handoff = conn.execute(select(Handoff).where(Handoff.contact_id == ids["ann"])).one()
    assert (handoff.status, handoff.decided_by_id) == ("accepted", ids["eva"])
    assert handoff.decided_at.isoformat() == move["changed_at"]
    again = _push(client, {**move, "external_id": "M1-from-another-system"})
    assert again.status_code == 200 and (again.json()["inserted"], again.json()["unchanged"]) == (0, 1)
    assert "already in the ledger under another external id" in next(iter(again.json()["warnings"]))
    with engine.connect() as conn:
        moves = conn.execute(select(StageChange.to_stage).where(StageChange.entity_id == ids["ann"])).scalars().all()
    assert moves == ["mql", "sal"]
    assert client.post(f"/api/v1/handoffs/{ids['ann']}/accept", headers=client.token["eva"]).status_code == 409


def test_a_pushed_move_into_the_handoff_stage_enters_the_queue_at_once(store):
    engine, client, ids = store
    dan = records.create_record(
        engine, CONFIG, "contacts", {"email": "dan@acme.example"}, actor_id=ids["ria"], actor="setup"
    )["id"]
    assert _stage(engine, dan) == "inquiry"
    assert _push(client, _move("M9", "dan@acme.example", "mql", None)).status_code == 200
    queue = client.get("/api/v1/handoffs", headers=client.token["ria"]).json()
    dans = [lead for lead in queue if lead["email"] == "dan@acme.example"]
    assert len(dans) == 1 and dans[0]["owner"] == EMAIL["lou"]  # round robin: the seller who waited longest


# ---- where a record starts, and whose answers are whose ------------------------------------------


@pytest.mark.parametrize("stage", ["sal", "customer", "opportunity"])
def test_a_contact_created_through_the_api_starts_at_an_entry_stage(store, stage):
    engine, client, _ = store
    refused = client.post(
        "/api/v1/contacts", json={"email": "eve@acme.example", "stage": stage}, headers=client.token["mia"]
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "body.stage"
    assert "allowed from a lead with no earlier move: inquiry, mql" in refused.json()["errors"][0]["message"]
    with engine.connect() as conn:
        assert conn.execute(select(Contact.id).where(Contact.email == "eve@acme.example")).first() is None


def test_a_contact_created_at_mql_is_routed_into_the_queue(store):
    engine, client, _ = store
    made = client.post(
        "/api/v1/contacts", json={"email": "eve@acme.example", "stage": "mql"}, headers=client.token["mia"]
    )
    assert made.status_code == 201
    assert _owner(engine, made.json()["id"]) == EMAIL["lou"]  # round robin: the seller who waited longest


def test_a_seller_cannot_answer_the_survey_as_marketing(store):
    engine, client, _ = store
    body = {"ratings": [2] * 20, "round": "2026-Q4"}
    refused = client.post("/api/v1/survey/responses", json={**body, "team": "marketing"}, headers=client.token["eva"])
    assert refused.status_code == 403 and "answers as sales, not marketing" in refused.json()["error"]
    as_leader = client.post("/api/v1/survey/responses", json={**body, "role": "leader"}, headers=client.token["eva"])
    assert as_leader.status_code == 403
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SurveyResponse)).scalar_one() == 0
    kept = client.post("/api/v1/survey/responses", json=body, headers=client.token["eva"])
    assert kept.status_code == 201 and (kept.json()["team"], kept.json()["role"]) == ("sales", "staff")


def test_moving_a_lead_out_of_the_queue_by_hand_is_a_decision_too(store, database_url):
    engine, _, ids = store
    run = CliRunner().invoke
    for who, says in ((None, "say who decides with --as"), (EMAIL["mia"], "say who decides"), (EMAIL["eva"], EMAIL["sam"])):
        args = ["lead", "move", "bob@acme.example", "recycled", "--db", database_url]
        refused = run(cli, [*args, *(["--as", who] if who else [])], env={"TRUCE_USER": ""})
        assert refused.exit_code == 1 and says in refused.output, refused.output
    assert _stage(engine, ids["bob"]) == "mql"
    done = run(cli, ["lead", "move", "bob@acme.example", "recycled", "--as", EMAIL["sam"], "--db", database_url])
    assert done.exit_code == 0, done.output
    with engine.connect() as conn:
        handoff = conn.execute(select(Handoff).where(Handoff.contact_id == ids["bob"])).one()
    assert (handoff.status, handoff.decided_by_id) == ("rejected", ids["sam"])
