"""The seller's desk through its faces: the REST API (403 with the reason, 422 naming the field), the
pages (cards, standing, the lead page, links), the CLI, and MQLs pushed through ingestion entering the queue."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from conftest import writing
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from truce import config as truce_config
from truce.services import handoff
from truce.services.lifecycle import move_contact
from truce.services.logins import add_user, create_token
from truce.store.models import Account, Contact, Handoff, Opportunity, StageChange, Touchpoint
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
PASSWORD = "a long enough test passphrase"


@pytest.fixture
def store(engine):
    """Eva (the only seller when the leads arrive) has Ann and Bob waiting; Nick joins after; Ria is RevOps."""
    add_user(engine, email="eva@yourco.example", team="sales", name="Eva Lind", password=PASSWORD)
    now = dt.datetime.now(dt.UTC)
    ids = {}
    with writing(engine) as conn:
        account = conn.execute(insert(Account).returning(Account.id), {
            "name": "Acme Analytics", "domain": "acme.example", "is_key_account": True,
            "created_at": now, "updated_at": now}).scalar_one()  # fmt: skip
        for first in ("ann", "bob", "cat"):
            ids[first] = conn.execute(insert(Contact).returning(Contact.id), {
                "email": f"{first}@acme.example", "first_name": first.title(), "last_name": "Fischer",
                "stage": "inquiry", "account_id": account, "source_channel": "paid_search",
                "created_at": now, "updated_at": now}).scalar_one()  # fmt: skip
        for first in ("ann", "bob"):
            move_contact(conn, CONFIG, ids[first], "mql", at=now - dt.timedelta(minutes=5), origin="rule")
        conn.execute(insert(Opportunity), {"name": "Acme renewal", "account_id": account, "primary_contact_id": ids["ann"],
                                           "amount": 12000, "stage": "open", "status": "open", "created_at": now,
                                           "updated_at": now})  # fmt: skip
    add_user(engine, email="nick@yourco.example", team="sales", password=PASSWORD)
    add_user(engine, email="ria@yourco.example", team="revops", password=PASSWORD)
    return ids


def api(engine, email):
    client = TestClient(create_app(engine, CONFIG), base_url="http://127.0.0.1")
    client.headers["authorization"] = f"Bearer {create_token(engine, email=email)}"
    return client


def browser(engine, email):
    client = TestClient(create_app(engine, CONFIG), base_url="http://127.0.0.1", follow_redirects=False)
    client.headers["accept"] = "text/html"
    assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    return client


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


# ---- the API -----------------------------------------------------------------------------------------


def test_a_seller_touching_another_sellers_lead_gets_403_with_the_reason(engine, store):
    answer = api(engine, "nick@yourco.example").post("/api/v1/handoffs/ann@acme.example/touch", json={"kind": "call"})
    assert answer.status_code == 403
    assert answer.json()["error"] == (
        "ann@acme.example is eva@yourco.example's lead; only eva@yourco.example or a sales leader may log touches on it"
    )


def test_the_api_logs_a_touch_claims_and_undoes(engine, store):
    eva = api(engine, "eva@yourco.example")
    touched = eva.post("/api/v1/handoffs/ann@acme.example/touch", json={"kind": "meeting"})
    assert touched.status_code == 201 and touched.json()["first_touch"] is True
    assert (
        eva.post("/api/v1/handoffs/ann@acme.example/touch", json={"kind": "fax"}).json()["errors"][0]["path"]
        == "body.kind"
    )
    assert eva.post("/api/v1/handoffs/ann@acme.example/accept").status_code == 200
    undone = eva.post("/api/v1/handoffs/ann@acme.example/undo")
    assert (undone.status_code, undone.json()["stage"]) == (200, "mql")
    nick = api(engine, "nick@yourco.example")
    assert nick.post("/api/v1/handoffs/ann@acme.example/undo").status_code == 409  # nothing decided to undo now
    with writing(engine) as conn:
        conn.execute(update(Handoff).where(Handoff.contact_id == store["bob"]).values(owner_id=None))
    claimed = nick.post("/api/v1/handoffs/bob@acme.example/claim")
    assert (claimed.status_code, claimed.json()["owner"]) == (200, "nick@yourco.example")
    assert eva.post("/api/v1/handoffs/bob@acme.example/claim").status_code == 409


def test_the_api_refuses_a_rejection_note_longer_than_the_form_shows(engine, store):
    eva = api(engine, "eva@yourco.example")
    long = eva.post("/api/v1/handoffs/ann@acme.example/reject", json={"reason": "no_budget", "note": "x" * 501})
    assert long.status_code == 422 and long.json()["errors"][0]["path"] == "body.note"
    fits = eva.post("/api/v1/handoffs/ann@acme.example/reject", json={"reason": "no_budget", "note": "x" * 500})
    assert fits.status_code == 200


def test_an_mql_pushed_through_ingestion_is_in_the_queue_with_an_owner_at_once(engine, store):
    item = {"external_id": "S1", "contact_email": "cat@acme.example", "to_stage": "mql",
            "changed_at": dt.datetime.now(dt.UTC).isoformat()}  # fmt: skip
    answer = api(engine, "ria@yourco.example").post("/api/v1/ingest/stage-changes", json={"items": [item]})
    assert answer.status_code == 200
    with engine.connect() as conn:
        opened = conn.execute(select(Handoff).where(Handoff.contact_id == store["cat"])).mappings().one()
    assert opened["status"] == "open" and opened["owner_id"] is not None
    queue = api(engine, "eva@yourco.example").get("/api/v1/handoffs").json()
    assert "cat@acme.example" in [h["email"] for h in queue]


def test_the_api_gives_the_desks_cards_with_people_companies_and_clocks_in_words(engine, store):
    eva = api(engine, "eva@yourco.example")
    cards = eva.get("/api/v1/handoffs/cards").json()
    assert [c["email"] for c in cards] == [h["email"] for h in eva.get("/api/v1/handoffs").json()]
    ann = next(c for c in cards if c["email"] == "ann@acme.example")
    assert (ann["name"], ann["company"], ann["source_channel"], ann["owner"]) == (
        "Ann Fischer", "Acme Analytics", "paid_search", "eva@yourco.example")  # fmt: skip
    # Five minutes into a 4-hour clock (or before business hours start): nearly all of it left.
    assert ann["first_touch"]["tone"] == "ok" and 3.9 <= ann["first_touch"]["hours_left"] <= 4
    month_on = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    late = eva.get("/api/v1/handoffs/cards", params={"at": month_on}).json()
    assert {(c["first_touch"]["tone"], c["decision"]["tone"]) for c in late} == {("overdue", "overdue")}
    assert all(c["decision"]["hours_left"] < 0 for c in late)
    with writing(engine) as conn:
        conn.execute(update(Handoff).where(Handoff.contact_id == store["bob"]).values(owner_id=None))
    nobodys = eva.get("/api/v1/handoffs/cards", params={"owner": "none"}).json()
    assert [c["email"] for c in nobodys] == ["bob@acme.example"]
    hers = eva.get("/api/v1/handoffs/cards", params={"owner": "EVA@yourco.example"}).json()
    assert [c["email"] for c in hers] == ["ann@acme.example"]


# ---- the pages ---------------------------------------------------------------------------------------


def test_the_desk_shows_my_standing_and_cards_with_clocks_in_words(engine, store):
    page = browser(engine, "eva@yourco.example").get("/handoffs").text
    assert "leads are due in the next 4 business hours" in page or "lead is due in the next 4 business hours" in page
    assert f'<a class="contact-link" href="/leads/{store["ann"]}">Ann Fischer</a>' in page
    assert "Acme Analytics" in page and "paid search" in page
    assert re.search(r'class="clock (ok|soon|overdue)" data-clock="first_touch"', page)


def test_the_desk_logs_a_touch_accepts_and_undoes_through_forms(engine, store):
    eva = browser(engine, "eva@yourco.example")
    token = csrf(eva.get("/handoffs").text)
    touched = eva.post("/handoffs/touch", data={"csrf": token, "email": "ann@acme.example", "kind": "call"})
    assert touched.status_code == 303
    assert eva.post("/handoffs/accept", data={"csrf": token, "email": "ann@acme.example"}).status_code == 303
    page = eva.get("/handoffs").text
    assert 'data-undo="ann@acme.example"' in page
    assert eva.post("/handoffs/undo", data={"csrf": token, "email": "ann@acme.example"}).status_code == 303
    with engine.connect() as conn:
        assert conn.execute(select(Contact.stage).where(Contact.id == store["ann"])).scalar_one() == "mql"
        assert conn.execute(select(Touchpoint.touch_type).where(Touchpoint.kind == "sales")).scalar_one() == "call"
        assert conn.execute(select(StageChange.reason).order_by(StageChange.id.desc())).scalars().first() == "undo"
    refused = browser(engine, "nick@yourco.example")
    answer = refused.post(
        "/handoffs/touch",
        data={"csrf": csrf(refused.get("/handoffs").text), "email": "bob@acme.example", "kind": "call"},
    )
    assert answer.status_code == 403 and "eva@yourco.example&#39;s lead" in answer.text


def test_the_lead_page_shows_the_whole_record_and_links_open_it(engine, store):
    handoff.reject(engine, CONFIG, "bob@acme.example", "eva@yourco.example", "no_budget", "budget opens in Q3")
    client = browser(engine, "nick@yourco.example")
    page = client.get(f"/leads/{store['ann']}").text
    assert "Ann Fischer" in page and "Acme renewal" in page and "Marketing qualified lead" in page
    bob = client.get(f"/leads/{store['bob']}").text
    assert "no budget" in bob and "budget opens in Q3" in bob
    found = client.get("/leads/find", params={"email": "ann@acme.example"})
    assert (found.status_code, found.headers["location"]) == (303, f"/leads/{store['ann']}")
    with engine.connect() as conn:
        deal = conn.execute(select(Opportunity.id)).scalar_one()
    assert client.get(f"/deals/{deal}").headers["location"] == f"/leads/{store['ann']}#deal-{deal}"
    assert client.get("/leads/999999").status_code == 404


def test_the_sla_page_says_the_sweep_runs_on_its_own(engine, store):
    with writing(engine) as conn:  # a deadline long past that no sweep has looked at
        past = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
        conn.execute(update(Handoff).values(first_touch_due_at=past, sla_due_at=past))
    page = browser(engine, "eva@yourco.example").get("/sla").text
    assert "truce sla sweep" not in page
    assert "the sweep runs on its own every 5 minutes" in page


# ---- the CLI -----------------------------------------------------------------------------------------


def test_the_cli_touches_claims_and_undoes_with_json(engine, store, monkeypatch):
    from truce.cli import app

    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    run = lambda *args: runner.invoke(app, [*args, "--db", url, "--json"])  # noqa: E731
    touched = run("handoff", "touch", "ann@acme.example", "--kind", "email", "--as", "eva@yourco.example")
    assert touched.exit_code == 0, touched.output
    assert json.loads(touched.output)["first_touch"] is True
    not_hers = run("handoff", "touch", "ann@acme.example", "--as", "nick@yourco.example")
    assert not_hers.exit_code == 1 and "eva@yourco.example's lead" in not_hers.output
    run("handoff", "accept", "ann@acme.example", "--as", "eva@yourco.example")
    undone = run("handoff", "undo", "ann@acme.example", "--as", "eva@yourco.example")
    assert undone.exit_code == 0 and json.loads(undone.output)["undone"] == "accepted"
    with writing(engine) as conn:
        conn.execute(update(Handoff).where(Handoff.contact_id == store["bob"]).values(owner_id=None))
    claimed = run("handoff", "claim", "bob@acme.example", "--as", "nick@yourco.example")
    assert claimed.exit_code == 0 and json.loads(claimed.output)["owner"] == "nick@yourco.example"
