"""An import is one transaction: a failure part-way, or a killed process, leaves none of the file behind."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from truce.imports.service import Options, import_file
from truce.imports.writers.contacts import ContactWriter
from truce.store import db
from truce.store.models import Base, Contact

# Six rows in batches of two: the third batch fails after two have been written.
HUBSPOT_CONTACTS = """\
Record ID,Email,Job Title,Associated Company,Lifecycle Stage,Became a Lead Date,Became a Marketing Qualified Lead Date
801,ann@x.example,CTO (updated),Acme,marketingqualifiedlead,2026-03-01 09:00,2026-03-02 09:00
802,bob@x.example,CFO,Acme,lead,2026-03-01 10:00,
803,cy@x.example,CEO,Globex,lead,2026-03-01 11:00,
804,di@x.example,COO,Globex,lead,2026-03-01 12:00,
805,ed@x.example,CIO,Initech,lead,2026-03-01 13:00,
806,fy@x.example,CMO,Initech,lead,2026-03-01 14:00,
"""


class InjectedFailure(RuntimeError):
    pass


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def test_a_failure_in_the_third_batch_leaves_nothing_of_the_file(engine, default_config, tmp_path, monkeypatch):
    seed = tmp_path / "seed.csv"
    seed.write_text("email,title\nann@x.example,CTO\n")
    import_file(engine, "contacts", seed, default_config)
    before = table_counts(engine)
    path = tmp_path / "hubspot.csv"
    path.write_text(HUBSPOT_CONTACTS)
    write, batches = ContactWriter.write, []

    def write_then_fail(self, batch):
        batches.append(batch.size)
        if len(batches) == 3:
            raise InjectedFailure("disk full")
        write(self, batch)

    monkeypatch.setattr(ContactWriter, "write", write_then_fail)

    with pytest.raises(InjectedFailure):
        import_file(engine, "contacts", path, default_config, Options(batch_size=2))

    assert batches == [2, 2, 2]
    assert table_counts(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(Contact.email, Contact.title, Contact.hubspot_id)).all() == [
            ("ann@x.example", "CTO", None)
        ]


def test_the_same_file_loads_whole_once_nothing_fails(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "hubspot.csv"
    path.write_text(HUBSPOT_CONTACTS)

    report = import_file(sqlite_engine, "contacts", path, default_config, Options(batch_size=2))

    assert (report.inserted, report.accounts_created, report.stage_changes_recorded) == (6, 3, 7)
    counts = table_counts(sqlite_engine)
    assert (counts["contacts"], counts["accounts"], counts["stage_changes"], counts["import_runs"]) == (6, 3, 7, 1)


def _write_contacts(path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "email", "first_name", "company", "stage", "created_at"])
        for i in range(rows):
            writer.writerow([f"C-{i}", f"p{i}@x.example", f"P{i}", f"Company {i % 5000}", "mql", "2026-03-01T10:00:00Z"])


@pytest.mark.slow  # 200,000 rows written, then an import started and killed: 3-5 s
def test_a_killed_import_leaves_a_sound_database_without_any_of_its_rows(sqlite_url, tmp_path):
    path = tmp_path / "big.csv"
    _write_contacts(path, 200_000)
    database = sqlite_url.removeprefix("sqlite:///")
    wal = f"{database}-wal"
    child = subprocess.Popen(
        [sys.executable, "-c", "from truce.cli import main; main()", "import", "contacts", str(path),
         "--db", sqlite_url, "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Kill it once it has written a good part of the file into the open transaction.
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            if os.path.exists(wal) and os.path.getsize(wal) > 1_000_000:
                break
            time.sleep(0.01)
        assert child.poll() is None, "the import finished before it could be killed; make the file bigger"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    engine = db.connect(sqlite_url)
    try:
        db.require_current_schema(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        counts = table_counts(engine)
    finally:
        engine.dispose()
    assert (counts["contacts"], counts["accounts"], counts["import_runs"], counts["audit_log"]) == (0, 0, 0, 0)
