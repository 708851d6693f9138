"""A pushed or imported stage move that changes where a contact stands is audited with before and after."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from truce import config as truce_config
from truce.services import demo
from truce.services.ingest import ingest
from truce.store import db
from truce.store.models import AuditEntry, Contact

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")


def test_a_pushed_move_that_changes_a_contacts_stage_is_audited(tmp_path):
    engine = db.connect(f"sqlite:///{tmp_path / 'demo.db'}")
    demo.build(engine, contacts=60, seed=9, config=CONFIG)
    with engine.connect() as conn:
        contact_id, email = conn.execute(
            select(Contact.id, Contact.email).where(Contact.stage == "inquiry").order_by(Contact.id)
        ).first()
    moved = [{"external_id": "crm-move-1", "contact_email": email, "to_stage": "mql",
              "changed_at": (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()}]  # fmt: skip
    ingest(engine, CONFIG, "stage_changes", moved, "hubspot-sync@yourco.example")
    with engine.connect() as conn:
        entries = conn.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.before, AuditEntry.after).where(
                AuditEntry.entity_type == "contact", AuditEntry.entity_id == contact_id
            )
        ).all()
        assert conn.execute(select(Contact.stage).where(Contact.id == contact_id)).scalar_one() == "mql"
    assert ("hubspot-sync@yourco.example", "import_update", {"stage": "inquiry"}, {"stage": "mql"}) in [
        tuple(e) for e in entries
    ]
    # Sending the same move again changes nothing, and says nothing new.
    ingest(engine, CONFIG, "stage_changes", moved, "hubspot-sync@yourco.example")
    with engine.connect() as conn:
        again = conn.execute(
            select(AuditEntry.id).where(AuditEntry.entity_type == "contact", AuditEntry.entity_id == contact_id)
        ).all()
    assert len(again) == len(entries)
    engine.dispose()
