"""A table exported by truce imports back: into the same store it changes nothing, into an empty store it
gives the same records.

Both formats go round: CSV, and Parquet (`truce export --format parquet`), which `truce import`
reads too. The expected contents are rebuilt in this file from the stores themselves: every truce id is
replaced by the natural key of the record it names, so two stores whose ids differ compare equal
when they hold the same records.
"""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from truce.cli import app
from truce.imports.service import Options, import_file
from truce.services import demo
from truce.services.export import export_table
from truce.store import db
from truce.store.models import Base, StageChange
from truce.store.revision import data_revision

# Import order: a record's references are in the store before it.
TABLES = ("users", "accounts", "campaigns", "contacts", "touchpoints", "opportunities", "stage_changes")
CONTACTS = 240
AS_OF = dt.date(2026, 11, 20)

# How a record is named across stores, per table its rows point into.
KEY = {
    "users": "email",
    "accounts": "external_id",
    "contacts": "email",
    "campaigns": "external_id",
    "opportunities": "external_id",
}
POINTS_AT = {
    "owner_id": "users",
    "user_id": "users",
    "changed_by_id": "users",
    "account_id": "accounts",
    "contact_id": "contacts",
    "primary_contact_id": "contacts",
    "campaign_id": "campaigns",
}
# Kept by truce, not carried by a file (see docs/cli.md, "Exporting and importing back").
NOT_CARRIED = {
    "id",
    "updated_at",
    "recorded_at",
    "origin",
    "score",
    "scored_at",
    "access",
    "password_hash",
    "salesforce_id",
    "hubspot_id",
    "deleted_at",
    "merged_into_id",
}


def _build_demo(engine, config) -> None:
    demo.build(engine, contacts=CONTACTS, seed=3, until=AS_OF, config=config)


FORMATS = ("csv", "parquet")


def _export_all(engine, folder, fmt: str = "csv") -> dict[str, object]:
    files = {}
    for table in TABLES:
        files[table] = folder / f"{table}.{fmt}"
        export_table(engine, table, files[table], fmt)
    return files


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Base.metadata.tables[table])).scalar_one()


def _contents(engine, table: str) -> list[tuple]:
    """The table's records with every id turned into the key of what it names, sorted."""
    with engine.connect() as conn:
        keys = {
            name: dict(conn.execute(select(t.c.id, t.c[KEY[name]])).all())
            for name, t in ((n, Base.metadata.tables[n]) for n in KEY)
        }
        rows = conn.execute(select(Base.metadata.tables[table])).mappings().all()
    records = []
    for row in rows:
        record = {}
        for column, value in row.items():
            if column in NOT_CARRIED:
                continue
            if column in POINTS_AT:
                value = keys[POINTS_AT[column]].get(value)
            elif column == "entity_id":
                value = keys["contacts" if row["entity_type"] == "contact" else "opportunities"].get(value)
            record[column] = value
        records.append(tuple(sorted(record.items(), key=lambda item: item[0])))
    return sorted(records, key=repr)


def _exported(folder, config, fmt: str):
    engine = db.connect(f"sqlite:///{folder / 'demo.db'}")
    _build_demo(engine, config)
    return engine, _export_all(engine, folder, fmt)


@pytest.fixture
def source(tmp_path_factory, default_config):
    """A small demo in a SQLite file of its own, exported table by table as CSV."""
    engine, files = _exported(tmp_path_factory.mktemp("source"), default_config, "csv")
    yield engine, files
    engine.dispose()


@pytest.fixture(params=FORMATS)
def exported(request, tmp_path_factory, default_config):
    """The same, once as CSV and once as Parquet."""
    engine, files = _exported(tmp_path_factory.mktemp("exported"), default_config, request.param)
    yield engine, files
    engine.dispose()


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_changes_nothing_when_the_export_goes_back_into_the_same_store(engine, default_config, tmp_path, fmt):
    _build_demo(engine, default_config)
    files = _export_all(engine, tmp_path, fmt)
    rows = {table: _count(engine, table) for table in TABLES}
    before = {table: _contents(engine, table) for table in TABLES}
    revision = data_revision(engine)
    for table in TABLES:
        report = import_file(engine, table, files[table], default_config, Options(actor="roundtrip"))
        assert report.dialect == "truce", table
        assert report.unknown_columns == [], table
        # Every row read and found as it is: none new, none updated.
        assert (report.rows_read, report.inserted, report.updated, report.unchanged) == (rows[table], 0, 0, rows[table])
        assert report.stage_changes_recorded == 0 and report.accounts_created == 0, table
    assert {table: _count(engine, table) for table in TABLES} == rows
    assert {table: _contents(engine, table) for table in TABLES} == before
    assert data_revision(engine) == revision


def test_it_reproduces_the_records_in_an_empty_store(engine, exported, default_config):
    origin, files = exported
    for table in TABLES:
        report = import_file(engine, table, files[table], default_config, Options(actor="roundtrip"))
        assert report.unknown_columns == [], table
        assert report.inserted == _count(origin, table), table
        assert _contents(engine, table) == _contents(origin, table), table
    # The ledger holds the file's moves and nothing the import invented on the way.
    assert _count(engine, "stage_changes") == _count(origin, "stage_changes")


def test_it_reads_the_export_twice_into_an_empty_store_as_once(engine, exported, default_config):
    _origin, files = exported
    for table in TABLES:
        import_file(engine, table, files[table], default_config, Options(actor="roundtrip"))
    counts = {table: _count(engine, table) for table in TABLES}
    with engine.connect() as conn:
        ledger = conn.execute(select(func.count()).select_from(StageChange)).scalar_one()
    revision = data_revision(engine)
    for table in TABLES:
        report = import_file(engine, table, files[table], default_config, Options(actor="roundtrip"))
        assert report.unchanged == counts[table] and report.inserted == report.updated == 0, table
    assert {table: _count(engine, table) for table in TABLES} == counts
    assert _count(engine, "stage_changes") == ledger
    assert data_revision(engine) == revision


def test_it_takes_the_formula_guard_off_a_cell_it_wrote_itself(source, tmp_path, engine, default_config):
    origin, files = source
    with open(files["contacts"], newline="", encoding="utf-8") as handle:
        guarded = [row for row in csv.DictReader(handle) if row["phone"].startswith("'+")]
    assert guarded, "the demo has phone numbers written as '+44 …: the test needs one"
    for table in ("users", "accounts", "contacts"):
        import_file(engine, table, files[table], default_config, Options(actor="roundtrip"))
    with engine.connect() as conn:
        contacts = Base.metadata.tables["contacts"]
        phone = conn.execute(select(contacts.c.phone).where(contacts.c.email == guarded[0]["email"])).scalar_one()
    assert phone == guarded[0]["phone"][1:]


def test_it_names_truces_own_columns_as_kept_by_truce_not_unknown(source, tmp_path):
    origin, files = source
    url = str(origin.url)
    result = CliRunner().invoke(app, ["import", "accounts", str(files["accounts"]), "--db", url, "--json"])
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.output)
    assert report["dialect"] == "truce" and report["unknown_columns"] == []
    assert set(report["managed_columns"]) == {
        "id",
        "owner_id",
        "updated_at",
        "salesforce_id",
        "hubspot_id",
        "deleted_at",
        "merged_into_id",
    }
    shown = CliRunner().invoke(app, ["import", "contacts", str(files["contacts"]), "--db", url])
    assert shown.exit_code == 0, shown.output
    words = " ".join(shown.output.split())
    assert "truce's own columns, kept by truce and not imported: id, account_id" in words
    assert "ignored columns" not in words


def test_it_reads_an_export_from_a_store_with_fewer_columns_as_truces(source, tmp_path, default_config):
    """Exports only ever gain columns: a file from an older truce is still recognised as an export."""
    origin, files = source
    with open(files["opportunities"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    older = tmp_path / "older.csv"
    kept = [name for name in rows[0] if name not in ("hubspot_id", "product")]
    with open(older, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, kept, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    report = import_file(origin, "opportunities", older, default_config, Options(actor="roundtrip"))
    assert report.dialect == "truce"
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, len(rows))


def test_it_never_writes_a_password_hash_into_the_users_export(source):
    _origin, files = source
    with open(files["users"], newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert "password_hash" not in header


def test_it_finds_an_account_made_from_a_company_name_again_by_its_name(engine, default_config, tmp_path):
    """A lead's company becomes an account with neither external id nor domain; its export goes back in."""
    leads = tmp_path / "leads.csv"
    leads.write_text("email,company\nann@zeta.example,Zeta Works\nbob@ypsilon.example,Ypsilon Ltd\n", encoding="utf-8")
    assert import_file(engine, "contacts", leads, default_config).accounts_created == 2
    exported = tmp_path / "accounts.csv"
    export_table(engine, "accounts", exported)
    revision = data_revision(engine)
    report = import_file(engine, "accounts", exported, default_config)
    assert (report.dialect, report.inserted, report.updated, report.unchanged) == ("truce", 0, 0, 2)
    assert _count(engine, "accounts") == 2
    assert data_revision(engine) == revision
