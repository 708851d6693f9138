"""Re-importing changes nothing; an overlapping export updates in place, audited, with one ledger move."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from truce.imports.service import Options, import_file
from truce.store import db
from truce.store.models import Account, AuditEntry, Base, Contact, StageChange

FIXTURES = Path(__file__).parent / "fixtures" / "import"
TRUCE_FILES = [
    ("accounts", "truce/accounts.csv"),
    ("contacts", "truce/contacts.csv"),
    ("campaigns", "truce/campaigns.csv"),
    ("touchpoints", "truce/touchpoints.csv"),
    ("opportunities", "truce/opportunities.csv"),
    ("stage_changes", "truce/stage_changes.csv"),
]
CRM_FILES = [
    ("contacts", "salesforce/leads-api.csv"),
    ("accounts", "salesforce/accounts.csv"),
    ("opportunities", "salesforce/opportunities.csv"),
    ("campaigns", "salesforce/campaigns.csv"),
    ("touchpoints", "salesforce/campaign-members.csv"),
    ("accounts", "hubspot/companies.csv"),
    ("contacts", "hubspot/contacts-internal.csv"),
    ("contacts", "hubspot/contacts-labels.csv"),
    ("opportunities", "hubspot/deals.csv"),
]
# Where each import leaves its own trace; everything else must be untouched by a re-run.
RUN_RECORDS = {"import_runs", "audit_log"}


def snapshot(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            table.name: [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in Base.metadata.sorted_tables
            if table.name not in RUN_RECORDS
        }


def rows(engine, model, *columns: str) -> list[tuple]:
    table = model.__table__
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(*(table.c[c] for c in columns)).order_by(*table.primary_key.columns))]


def load_all(engine, config, files) -> list:
    return [import_file(engine, table, FIXTURES / name, config) for table, name in files]


def test_importing_the_truce_files_twice_changes_nothing(engine, default_config):
    load_all(engine, default_config, TRUCE_FILES)
    first = snapshot(engine)

    reports = load_all(engine, default_config, TRUCE_FILES)

    assert snapshot(engine) == first
    assert [(r.inserted, r.updated, r.unchanged, r.stage_changes_recorded, r.accounts_created) for r in reports] == [
        (0, 0, 3, 0, 0),
        (0, 0, 3, 0, 0),
        (0, 0, 2, 0, 0),
        (0, 0, 3, 0, 0),
        (0, 0, 3, 0, 0),
        (0, 0, 3, 0, 0),
    ]
    loaded = {name: len(table_rows) for name, table_rows in first.items() if table_rows}
    # Three accounts, plus "Umbrella Group" named by a contact.
    assert loaded == {
        "accounts": 4, "contacts": 3, "campaigns": 2, "touchpoints": 3, "opportunities": 3, "stage_changes": 3,
        "store_revision": 1,
    }  # fmt: skip


def test_importing_the_salesforce_and_hubspot_files_twice_changes_nothing(engine, default_config):
    load_all(engine, default_config, CRM_FILES)
    first = snapshot(engine)

    reports = load_all(engine, default_config, CRM_FILES)

    assert snapshot(engine) == first
    assert [(r.inserted, r.updated, r.unchanged, r.stage_changes_recorded) for r in reports] == [
        (0, 0, 3, 0),
        (0, 0, 1, 0),
        (0, 0, 2, 0),
        (0, 0, 2, 0),
        (0, 0, 2, 0),
        (0, 0, 2, 0),
        (0, 0, 3, 0),
        (0, 0, 2, 0),
        (0, 0, 3, 0),
    ]


def test_an_overlapping_export_updates_in_place_and_audits_the_change(engine, default_config, tmp_path):
    load_all(engine, default_config, TRUCE_FILES[:2])
    before = {email: (cid, updated) for cid, email, updated in rows(engine, Contact, "id", "email", "updated_at")}
    ledger = rows(engine, StageChange, "id")
    path = tmp_path / "contacts.csv"
    # CON-1 has a new title; CON-2 is as before; CON-4 is new.
    path.write_text(
        "external_id,email,title,stage\n"
        "CON-1,ann.lee@acme.com,VP Engineering,SQL\n"
        "CON-2,bob@globex.example,,Sales accepted lead\n"
        "CON-4,dee@x.example,,mql\n"
    )

    report = import_file(engine, "contacts", path, default_config, Options(actor="ops@truce.example"))

    assert (report.inserted, report.updated, report.unchanged, report.stage_changes_recorded) == (1, 1, 1, 0)
    assert rows(engine, Contact, "external_id", "title", "stage") == [
        ("CON-1", "VP Engineering", "sql"),
        ("CON-2", None, "sal"),
        ("CON-3", None, "inquiry"),
        ("CON-4", None, "mql"),
    ]
    after = {email: (cid, updated) for cid, email, updated in rows(engine, Contact, "id", "email", "updated_at")}
    assert after["ann.lee@acme.com"][0] == before["ann.lee@acme.com"][0]
    assert after["ann.lee@acme.com"][1] > before["ann.lee@acme.com"][1]
    assert after["bob@globex.example"] == before["bob@globex.example"]
    with engine.connect() as conn:
        updates = conn.execute(
            select(AuditEntry.actor, AuditEntry.entity_type, AuditEntry.entity_id, AuditEntry.before, AuditEntry.after)
            .where(AuditEntry.action == "import_update")
        ).all()
    assert updates == [
        ("ops@truce.example", "contact", before["ann.lee@acme.com"][0], {"title": "CTO"}, {"title": "VP Engineering"})
    ]
    assert rows(engine, StageChange, "id") == ledger


def test_a_changed_stage_updates_the_contact_and_appends_one_ledger_move(engine, default_config, tmp_path):
    load_all(engine, default_config, TRUCE_FILES[:2])
    bob = dict(rows(engine, Contact, "email", "id"))["bob@globex.example"]
    path = tmp_path / "contacts.csv"
    path.write_text("email,stage\nbob@globex.example,Opportunity\nann.lee@acme.com,sql\n")
    started = dt.datetime.now(dt.UTC)

    report = import_file(engine, "contacts", path, default_config)

    assert (report.updated, report.unchanged, report.stage_changes_recorded) == (1, 1, 1)
    moves = rows(engine, StageChange, "entity_type", "entity_id", "from_stage", "to_stage", "team_before", "team_after",
                 "note", "origin")
    assert moves == [("contact", bob, "sal", "opportunity", "sales", "sales", "stage changed by import", "import")]
    # The export does not say when Bob moved; truce learnt it now.
    (changed_at,) = rows(engine, StageChange, "changed_at")[0]
    assert changed_at >= started.replace(microsecond=0)
    with engine.connect() as conn:
        audited = conn.execute(select(AuditEntry.before, AuditEntry.after).where(AuditEntry.action == "import_update")).all()
    assert audited == [({"stage": "sal"}, {"stage": "opportunity"})]

    import_file(engine, "contacts", path, default_config)

    assert len(rows(engine, StageChange, "id")) == 1


def test_a_new_hubspot_stage_date_appends_its_dated_move_once(engine, default_config, tmp_path):
    load_all(engine, default_config, [("contacts", "hubspot/contacts-internal.csv")])
    path = tmp_path / "hubspot.csv"
    path.write_text(
        "Record ID,Email,Lifecycle Stage,Became a Lead Date,Became a Marketing Qualified Lead Date,"
        "Became a Sales Qualified Lead Date\n"
        "501,hana.kim@orbit.example,salesqualifiedlead,2026-03-01 09:00,2026-03-05 14:30,2026-03-09 10:00\n"
    )
    hana = dict(rows(engine, Contact, "hubspot_id", "id"))["501"]

    report = import_file(engine, "contacts", path, default_config)
    again = import_file(engine, "contacts", path, default_config)

    assert (report.updated, report.stage_changes_recorded) == (1, 1)
    assert (again.unchanged, again.stage_changes_recorded) == (1, 0)
    hana_moves = [m for m in rows(engine, StageChange, "entity_id", "from_stage", "to_stage", "changed_at") if m[0] == hana]
    assert hana_moves == [
        (hana, None, "inquiry", dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)),
        (hana, "inquiry", "mql", dt.datetime(2026, 3, 5, 14, 30, tzinfo=dt.UTC)),
        (hana, "mql", "sql", dt.datetime(2026, 3, 9, 10, tzinfo=dt.UTC)),
    ]
    assert rows(engine, Contact, "hubspot_id", "stage")[0] == ("501", "sql")


def test_reimporting_companies_with_non_ascii_names_creates_no_second_account(engine, default_config, tmp_path):
    path = tmp_path / "contacts.csv"
    # SQL's lower() leaves "Ö" alone on SQLite and cannot turn "ß" into "ss" anywhere.
    path.write_text("email,company\na@x.example,ÖKO Energie\nb@x.example,Straße AG\nc@x.example,öko energie\n")

    first = import_file(engine, "contacts", path, default_config)
    first_state = snapshot(engine)
    second = import_file(engine, "contacts", path, default_config)

    assert (first.accounts_created, second.accounts_created, second.unchanged) == (2, 0, 3)
    assert snapshot(engine) == first_state
    assert [name for (name,) in rows(engine, Account, "name")] == ["ÖKO Energie", "Straße AG"]


# -- property: any export, imported twice, changes nothing the second time ----------------------

NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=12)
CONTACT_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["ann", "Bob", "CY", "dee", "eve", "fay", "gus"]),
        NAMES,
        st.sampled_from(["inquiry", "MQL", "Sales accepted lead", "sql", "", "Customer"]),
        st.sampled_from(["Organic Search", "paid_social", "Webinar", ""]),
        st.one_of(st.just(""), NAMES, st.sampled_from(["Acme", "ACME", "Ärzte GmbH", "ärzte gmbh"])),
        st.sampled_from(["", "2026-03-29 01:30", "2026-01-05T10:00:00+01:00", "3/29/2026 1:30 AM"]),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda row: row[0].casefold(),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(CONTACT_ROWS)
def test_reimporting_any_contact_export_changes_nothing(sqlite_template, default_config, contacts):
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "truce.db"
        shutil.copy(sqlite_template, store)
        path = Path(folder) / "contacts.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "first_name", "stage", "source_channel", "company", "created_at"])
            for local, name, stage, channel, company, created in contacts:
                writer.writerow([f"{local}@x.example", name, stage, channel, company.strip() and company, created])
        engine = db.connect(f"sqlite:///{store}")
        try:
            first = import_file(engine, "contacts", path, default_config)
            before = snapshot(engine)
            second = import_file(engine, "contacts", path, default_config)

            assert first.inserted == len(contacts)
            assert (second.inserted, second.updated, second.unchanged, second.accounts_created) == (
                0, 0, len(contacts), 0,
            )
            assert snapshot(engine) == before
        finally:
            engine.dispose()
