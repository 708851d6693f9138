"""A long file re-imported, batch by batch and lookup chunk by lookup chunk, on both backends.

Matching sends the file's keys as one JSON parameter joined to the table, in chunks, and fetches
a matched row with only the columns the file carries. These tests cut a file into many batches
and many chunks, so a key lost at a chunk's edge or a column not fetched would show: a second
import must change nothing and audit nothing, and an edited file must update exactly the rows
edited, audited with exactly the cells that changed (written out by hand below).
"""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import func, select

from truce.imports import lookups
from truce.imports.service import Options, import_file
from truce.store.models import AuditEntry, Base, Contact

ROWS = 40
HEADER = ["external_id", "email", "first_name", "last_name", "title", "company", "stage", "created_at"]


def contact_row(n: int) -> list[str]:
    # Mixed-case emails: the store keeps them lower-cased, so matching must compare the stored form.
    return [f"CON-{n:03}", f"Person.{n}@Example.COM", "Ann", f"Lee{n}", "", f"Company {n % 7}", "mql", "2026-03-01"]


def write_file(path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


def snapshot(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in Base.metadata.sorted_tables
            if t.name not in ("audit_log", "import_runs")
        }


def import_updates(engine) -> list[tuple]:
    with engine.connect() as conn:
        query = select(AuditEntry.entity_id, AuditEntry.before, AuditEntry.after).where(
            AuditEntry.action == "import_update"
        )
        return [tuple(r) for r in conn.execute(query.order_by(AuditEntry.entity_id))]


@pytest.fixture
def small_chunks(monkeypatch):
    """Three keys per lookup statement, so a batch of seven rows spans three chunks."""
    monkeypatch.setattr(lookups, "CHUNK", 3)


def load(engine, config, path):
    return import_file(engine, "contacts", path, config, Options(batch_size=7))


def test_a_long_file_imported_again_changes_nothing_and_audits_nothing(engine, default_config, tmp_path, small_chunks):
    path = tmp_path / "contacts.csv"
    write_file(path, [contact_row(n) for n in range(1, ROWS + 1)])
    first = load(engine, default_config, path)
    before = snapshot(engine)

    again = load(engine, default_config, path)

    assert (first.inserted, first.accounts_created) == (ROWS, 7)
    assert (again.inserted, again.updated, again.unchanged, again.accounts_created) == (0, 0, ROWS, 0)
    assert snapshot(engine) == before
    assert import_updates(engine) == []


def test_an_edited_long_file_updates_and_audits_only_the_edited_cells(engine, default_config, tmp_path, small_chunks):
    path = tmp_path / "contacts.csv"
    rows = [contact_row(n) for n in range(1, ROWS + 1)]
    write_file(path, rows)
    load(engine, default_config, path)
    rows[4][4] = "CFO"  # CON-005 gets a title (it had none)
    rows[20][6] = "sal"  # CON-021 moves on
    rows[38][3] = "Lee-Smith"  # CON-039 is renamed
    write_file(path, rows)

    report = load(engine, default_config, path)

    assert (report.inserted, report.updated, report.unchanged) == (0, 3, ROWS - 3)
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Contact.external_id, Contact.id)).all())
        assert conn.execute(select(func.count()).select_from(Contact)).scalar_one() == ROWS
    assert import_updates(engine) == [
        (ids["CON-005"], {"title": None}, {"title": "CFO"}),
        (ids["CON-021"], {"stage": "mql"}, {"stage": "sal"}),
        (ids["CON-039"], {"last_name": "Lee39"}, {"last_name": "Lee-Smith"}),
    ]
