"""Event ingestion: 10,000 items a request, all or nothing, idempotent by external id, the import's rules."""

from __future__ import annotations

import csv
import datetime as dt
import time

import pytest
from conftest import writing
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from truce import config as truce_config
from truce.imports.service import import_file
from truce.services.logins import add_user, create_token
from truce.store import db
from truce.store.models import AuditEntry, Base, Campaign, Contact, Handoff, ImportRun, StageChange, Touchpoint
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
T0 = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)
CONTACTS = 500
CHANNELS = ("webinar", "paid_search", "email", "events")
RUN_RECORDS = {"import_runs", "audit_log", "api_tokens"}  # where a request leaves its own trace


def _store(engine) -> TestClient:
    add_user(engine, email="ria@yourco.example", team="revops")
    add_user(engine, email="eva@yourco.example", team="sales")
    with writing(engine) as conn:
        conn.execute(
            insert(Contact),
            [
                {
                    "email": f"lead{i}@acme.example",
                    "external_id": f"C{i}",
                    "stage": "sql",
                    "created_at": T0,
                    "updated_at": T0,
                }
                for i in range(CONTACTS)
            ],
        )
        conn.execute(insert(Campaign), [{"name": "Fall webinar", "channel": "webinar", "external_id": "CMP1"}])
    client = TestClient(create_app(engine, CONFIG), base_url="http://127.0.0.1")
    client.headers["authorization"] = f"Bearer {create_token(engine, email='ria@yourco.example')}"
    return client


@pytest.fixture
def api(engine):
    with _store(engine) as client:
        yield client, engine


def touches(n: int, start: int = 0) -> list[dict]:
    return [
        {
            "external_id": f"T{i}",
            "contact_email": f"lead{i % CONTACTS}@acme.example",
            "channel": CHANNELS[i % len(CHANNELS)],
            "touch_type": ("form", "ad_click", "email_click", "event")[i % 4],
            "occurred_at": (T0 + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
            **({"user_email": "eva@yourco.example"} if i % 10 == 0 else {}),
        }
        for i in range(start, start + n)
    ]


def snapshot(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
            if t.name not in RUN_RECORDS
        }


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_ten_thousand_touches_in_one_request_and_the_same_again_changes_nothing(api):
    client, engine = api
    items = touches(10_000)
    started = time.monotonic()
    first = client.post("/api/v1/ingest/touchpoints", json={"items": items})
    took = time.monotonic() - started
    assert first.status_code == 200, first.text[:500]
    assert first.json() == {
        "items": 10_000, "inserted": 10_000, "updated": 0, "unchanged": 0, "contacts_rescored": CONTACTS,
        "became_mql": 0, "warnings": {},
    }  # fmt: skip
    assert took < 60, f"10,000 touches took {took:.1f}s"
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(Touchpoint.kind, func.count()).group_by(Touchpoint.kind)).all())
    assert kinds == {"sales": 1_000, "marketing": 9_000}  # a sales user's touch is a sales touch
    before = snapshot(engine)
    again = client.post("/api/v1/ingest/touchpoints", json={"items": items})
    assert again.json()["unchanged"] == 10_000 and again.json()["inserted"] == again.json()["updated"] == 0
    assert snapshot(engine) == before
    assert count(engine, ImportRun) == 1
    with engine.connect() as conn:
        audit = conn.execute(select(AuditEntry).where(AuditEntry.action == "ingest")).one()
    assert (audit.actor, audit.entity_type, audit.after["inserted"]) == ("ria@yourco.example", "touchpoints", 10_000)


def test_one_bad_item_among_ten_thousand_writes_nothing_and_names_its_field(api):
    client, engine = api
    items = touches(10_000)
    items[9_999]["contact_email"] = "nobody@acme.example"
    items[17]["touch_type"] = "x" * 40
    response = client.post("/api/v1/ingest/touchpoints", json={"items": items})
    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["body.items.17.touch_type"]  # the request model first
    items[17]["touch_type"] = "form"
    items[42].pop("channel")  # a touch needs a channel or a campaign
    response = client.post("/api/v1/ingest/touchpoints", json={"items": items})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [
        {"path": "body.items.42.channel", "message": "required value is missing", "type": "validation"},
        {"path": "body.items.9999.contact_email", "message": "no contact 'nobody@acme.example'; import contacts first",
         "type": "not_found"},
    ]  # fmt: skip
    assert "2 of 10000 items are invalid" in body["error"] and "nothing was written" in body["error"]
    assert count(engine, Touchpoint) == 0 and count(engine, ImportRun) == 0


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"occurred_at": "next tuesday"}, "body.items.3.occurred_at"),
        ({"occurred_at": None}, "body.items.3.occurred_at"),
        ({"external_id": ""}, "body.items.3.external_id"),
        ({"kind": "partner"}, "body.items.3.kind"),
        ({"contact_email": 42}, "body.items.3.contact_email"),
        ({"colour": "red"}, "body.items.3.colour"),
        ({"contact_email": "not-an-email"}, "body.items.3.contact_email"),
        ({"campaign_external_id": "CMP404"}, "body.items.3.campaign_external_id"),
        ({"contact_email": None, "contact_external_id": None}, "body.items.3.contact_email"),
        ({"external_id": "T1"}, "body.items.3.external_id"),
    ],
)
def test_a_bad_item_is_refused_with_the_path_of_its_field(api, change, path):
    client, engine = api
    items = touches(5)
    items[3] = {k: v for k, v in {**items[3], **change}.items() if v is not None or k == "occurred_at"}
    if change.get("occurred_at", "") is None:
        items[3].pop("occurred_at")
    response = client.post("/api/v1/ingest/touchpoints", json={"items": items})
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == [path]
    assert count(engine, Touchpoint) == 0


def test_a_repeated_external_id_names_the_item_it_repeats(api):
    client, _ = api
    items = touches(5)
    items[4]["external_id"] = "T1"
    error = client.post("/api/v1/ingest/touchpoints", json={"items": items}).json()["errors"][0]
    assert error["path"] == "body.items.4.external_id" and "same external_id as item 1" in error["message"]


def test_more_than_ten_thousand_items_are_refused_whole(api):
    client, engine = api
    response = client.post("/api/v1/ingest/touchpoints", json={"items": touches(10_001)})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["path"] == "body.items" and "at most 10000 items" in error["message"]
    assert count(engine, Touchpoint) == 0


def test_a_changed_touch_is_updated_in_place_and_audited(api):
    client, engine = api
    client.post("/api/v1/ingest/touchpoints", json={"items": touches(3)})
    items = touches(3)
    items[1]["channel"] = "Paid Social"
    result = client.post("/api/v1/ingest/touchpoints", json={"items": items}).json()
    assert (result["inserted"], result["updated"], result["unchanged"]) == (0, 1, 2)
    with engine.connect() as conn:
        assert (
            conn.execute(select(Touchpoint.channel).where(Touchpoint.external_id == "T1")).scalar_one() == "paid_social"
        )
        update = conn.execute(select(AuditEntry).where(AuditEntry.action == "import_update")).one()
    assert (update.before, update.after) == ({"channel": "paid_search"}, {"channel": "paid_social"})


def test_fresh_touches_lift_an_inquiry_over_the_line_into_the_handoff_queue(api):
    client, engine = api
    with writing(engine) as conn:
        conn.execute(
            insert(Contact), {"email": "hot@acme.example", "stage": "inquiry", "created_at": T0, "updated_at": T0}
        )
    now = dt.datetime.now(dt.UTC)
    items = [
        {"external_id": f"H{i}", "contact_email": "hot@acme.example", "channel": "website", "touch_type": "demo_request",
         "occurred_at": (now - dt.timedelta(hours=i + 1)).isoformat()}
        for i in range(2)
    ]  # fmt: skip
    result = client.post("/api/v1/ingest/touchpoints", json={"items": items}).json()
    assert (result["contacts_rescored"], result["became_mql"]) == (1, 1)
    with engine.connect() as conn:
        contact = conn.execute(select(Contact).where(Contact.email == "hot@acme.example")).one()
        assert contact.stage == "mql" and contact.score >= CONFIG.scoring.threshold
        assert conn.execute(select(Handoff.status).where(Handoff.contact_id == contact.id)).scalar_one() == "open"


def test_the_api_writes_what_the_csv_import_writes(api, tmp_path, sqlite_template):
    client, engine = api
    items = touches(400)
    items[5]["campaign_external_id"] = "CMP1"
    items[5].pop("channel")
    assert client.post("/api/v1/ingest/touchpoints", json={"items": items}).status_code == 200
    path = tmp_path / "other.db"
    path.write_bytes(open(sqlite_template, "rb").read())
    other = db.connect(f"sqlite:///{path}")
    _store(other).close()
    file = tmp_path / "touchpoints.csv"
    columns = sorted({k for item in items for k in item})
    with open(file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(items)
    import_file(other, "touchpoints", file, CONFIG)

    def written(store):
        with store.connect() as conn:
            touches_ = [tuple(r)[1:] for r in conn.execute(select(Touchpoint).order_by(Touchpoint.external_id))]
            scores = conn.execute(select(Contact.email, Contact.stage, Contact.score).order_by(Contact.email)).all()
        return touches_, scores

    assert written(engine) == written(other)
    other.dispose()


# ---- stage changes --------------------------------------------------------------------------------


def _moves(*moves) -> dict:
    return {
        "items": [
            {"external_id": key, "contact_email": "lead1@acme.example", "to_stage": stage,
             "changed_at": (T0 + dt.timedelta(days=day)).isoformat(), **extra}
            for key, stage, day, extra in moves
        ]
    }  # fmt: skip


def test_stage_changes_append_to_the_ledger_and_move_the_contact(api):
    client, engine = api
    body = _moves(("M1", "opportunity", 10, {}), ("M2", "customer", 40, {"changed_by_email": "eva@yourco.example"}))
    result = client.post("/api/v1/ingest/stage-changes", json=body).json()
    assert (result["inserted"], result["unchanged"]) == (2, 0)
    with engine.connect() as conn:
        ledger = conn.execute(select(StageChange).order_by(StageChange.changed_at)).all()
        assert (
            conn.execute(select(Contact.stage).where(Contact.email == "lead1@acme.example")).scalar_one() == "customer"
        )
    assert [(m.from_stage, m.to_stage, m.origin) for m in ledger] == [
        ("sql", "opportunity", "api"),  # a live event moves the lead from where it stands
        ("opportunity", "customer", "api"),
    ]
    before = snapshot(engine)
    again = client.post("/api/v1/ingest/stage-changes", json=body).json()
    assert (again["inserted"], again["unchanged"]) == (0, 2) and snapshot(engine) == before


def test_the_ledger_is_append_only_and_moves_obey_the_funnel(api):
    client, engine = api
    client.post("/api/v1/ingest/stage-changes", json=_moves(("M1", "opportunity", 10, {})))
    rewritten = client.post("/api/v1/ingest/stage-changes", json=_moves(("M1", "customer", 10, {})))
    assert rewritten.status_code == 422
    assert rewritten.json()["errors"][0]["path"] == "body.items.0.external_id"
    assert "append-only" in rewritten.json()["errors"][0]["message"]
    illegal = client.post("/api/v1/ingest/stage-changes", json=_moves(("M2", "inquiry", 20, {})))
    assert illegal.json()["errors"][0]["path"] == "body.items.0.to_stage"
    assert "cannot move from 'opportunity' to 'inquiry'" in illegal.json()["errors"][0]["message"]
    unknown = client.post("/api/v1/ingest/stage-changes", json=_moves(("M3", "champion", 20, {})))
    assert unknown.json()["errors"][0]["path"] == "body.items.0.to_stage"
    with engine.connect() as conn:
        assert conn.execute(select(StageChange.to_stage)).scalars().all() == ["opportunity"]


def test_only_revops_pushes_events(api):
    client, engine = api
    eva = {"authorization": f"Bearer {create_token(engine, email='eva@yourco.example')}"}
    assert client.post("/api/v1/ingest/touchpoints", json={"items": touches(1)}, headers=eva).status_code == 403
    assert client.post("/api/v1/ingest/stage-changes", json=_moves(), headers=eva).status_code == 403
    assert client.post("/api/v1/ingest/stage-changes", json=_moves()).json()["items"] == 0
