"""A small company for the write-back tests: one seller, one lead read from HubSpot, a HubSpot
connection whose contacts cursor stands at a known CRM time, and a config with chosen switches."""

from __future__ import annotations

import datetime as dt

from conftest import writing
from sqlalchemy import insert, select

from truce import config as truce_config
from truce.services.connectors import connections
from truce.store.models import Account, Contact, CrmSyncCursor, OutboxMessage, User

READ_AT = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)  # the cursor below
MQL_AT = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)  # a Monday
SETUP = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def config_with(*switched_on: str, system: str = "hubspot", extra: str = ""):
    switches = "\n".join(f"{name} = true" for name in switched_on)
    text = truce_config.default_text() + f"\n{extra}\n[connectors.{system}.write_back]\n{switches}\n"
    return truce_config.parse(text, "truce.toml")


def company(engine, monkeypatch, *, hubspot_id: str | None = "101", cursor: str | None = "2026-12-01T10:00:00Z|101"):
    """Ids of the seller eva, the lead ann (a VP at an enterprise software account) and a second seller."""
    monkeypatch.setenv("TEST_HUBSPOT_TOKEN", "pat-secret-value-123")
    connection = connections.connect(
        engine, config_with(), connections.Request("hubspot", secret_env="TEST_HUBSPOT_TOKEN"), actor="revops@x.example"
    )
    ids = {"connection": connection.id}
    with writing(engine) as conn:
        for email in ("eva@seller.example", "sam@seller.example"):
            ids[email] = conn.execute(
                insert(User).returning(User.id),
                {"email": email, "name": email.split("@")[0], "team": "sales", "active": True, "is_leader": False,
                 "created_at": SETUP},
            ).scalar_one()  # fmt: skip
        account = conn.execute(
            insert(Account).returning(Account.id),
            {"name": "Acme", "segment": "enterprise", "industry": "Software", "is_key_account": False,
             "created_at": SETUP, "updated_at": SETUP},
        ).scalar_one()  # fmt: skip
        ids["ann"] = conn.execute(
            insert(Contact).returning(Contact.id),
            {"email": "ann@acme.example", "title": "VP Marketing", "stage": "inquiry", "account_id": account,
             "hubspot_id": hubspot_id, "created_at": SETUP, "updated_at": SETUP},
        ).scalar_one()  # fmt: skip
        if cursor is not None:
            conn.execute(
                insert(CrmSyncCursor),
                {
                    "connection_id": connection.id,
                    "object": "contacts",
                    "cursor": cursor,
                    "records": 1,
                    "updated_at": SETUP,
                },
            )
    return ids


def owed(engine) -> list[dict]:
    """The write-backs owed, oldest first: key and facts."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(OutboxMessage.key, OutboxMessage.facts, OutboxMessage.user_id)
            .where(OutboxMessage.kind == "crm_write_back")
            .order_by(OutboxMessage.id)
        ).all()
    return [{"key": key, "user_id": user_id, **facts} for key, facts, user_id in rows]


def make_mql(engine, config, contact_id: int, at: dt.datetime = MQL_AT) -> None:
    """The lead becomes an MQL (as a score crossing would make it): routed, both clocks started."""
    from truce.services.lifecycle import move_contact

    with writing(engine, "rule") as conn:
        move_contact(conn, config, contact_id, "mql", at=at, reason="score", origin="rule")
