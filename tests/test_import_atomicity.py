"""A long import commits batch by batch, and a batch is all or nothing.

A bad row anywhere is found before anything is written (tests/test_import_errors.py). A failure
part-way through the writing — a full disk, a killed process — leaves the batches before it
whole, each with its audit entry and ledger rows, and none of the batch it was writing; running
the same import again finishes the job and changes nothing already in.
"""

from __future__ import annotations

import csv
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from truce import config as truce_config
from truce.imports.service import Options, import_file
from truce.imports.writers.contacts import ContactWriter
from truce.store import db
from truce.store.models import AuditEntry, Base, Contact

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


def test_a_failure_in_the_third_batch_keeps_two_whole_batches_and_a_rerun_finishes(
    engine, default_config, tmp_path, monkeypatch
):
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
    with pytest.raises(InjectedFailure):  # commit_seconds=0: a commit after every batch, as when writers wait
        import_file(engine, "contacts", path, default_config, Options(batch_size=2, commit_seconds=0))

    assert batches == [2, 2, 2]
    after = table_counts(engine)
    # Rows 801-804: ann updated, bob, cy and di new; Acme and Globex created; 5 dated moves.
    assert after["contacts"] - before["contacts"] == 3
    assert after["accounts"] - before["accounts"] == 2
    assert after["stage_changes"] - before["stage_changes"] == 5
    assert after["import_runs"] == before["import_runs"]  # the run is recorded with its last batch
    with engine.connect() as conn:
        emails = conn.execute(select(Contact.email).order_by(Contact.email)).scalars().all()
        entries = conn.execute(
            select(AuditEntry.action, AuditEntry.after).where(AuditEntry.action == "import_batch").order_by(AuditEntry.id)
        ).all()
    assert emails == ["ann@x.example", "bob@x.example", "cy@x.example", "di@x.example"]
    assert [(e.after["records"], e.after["inserted"], e.after["updated"]) for e in entries] == [
        ([1, 2], 1, 1),
        ([3, 4], 2, 0),
    ]

    monkeypatch.setattr(ContactWriter, "write", write)
    report = import_file(engine, "contacts", path, default_config, Options(batch_size=2))
    assert (report.inserted, report.updated, report.unchanged) == (2, 0, 4)
    finished = table_counts(engine)
    assert (finished["contacts"], finished["accounts"], finished["import_runs"]) == (6, 3, before["import_runs"] + 1)


def test_the_same_file_loads_whole_once_nothing_fails(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "hubspot.csv"
    path.write_text(HUBSPOT_CONTACTS)

    report = import_file(sqlite_engine, "contacts", path, default_config, Options(batch_size=2))

    assert (report.inserted, report.accounts_created, report.stage_changes_recorded) == (6, 3, 7)
    counts = table_counts(sqlite_engine)
    assert (counts["contacts"], counts["accounts"], counts["stage_changes"], counts["import_runs"]) == (6, 3, 7, 1)


def _parts_committed(database: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as reader:
        return reader.execute("SELECT count(*) FROM audit_log WHERE action = 'import_batch'").fetchone()[0]


def _write_contacts(path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "email", "first_name", "company", "stage", "created_at"])
        for i in range(rows):
            writer.writerow([f"C-{i}", f"p{i}@x.example", f"P{i}", f"Company {i % 5000}", "mql", "2026-03-01T10:00:00Z"])


@pytest.mark.slow  # 200,000 rows written, then an import started and killed, then run again: 10-15 s
def test_a_killed_import_leaves_whole_batches_and_a_rerun_finishes(sqlite_url, tmp_path):
    path = tmp_path / "big.csv"
    _write_contacts(path, 200_000)
    database = sqlite_url.removeprefix("sqlite:///")
    command = [sys.executable, "-c", "from truce.cli import main; main()", "import", "contacts", str(path),
               "--db", sqlite_url, "--json"]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Kill it once it has committed a part of the file and is writing the next.
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            if _parts_committed(database) >= 1:
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
            batches = conn.execute(
                select(AuditEntry.after).where(AuditEntry.action == "import_batch").order_by(AuditEntry.id)
            ).scalars().all()
        counts = table_counts(engine)
        # Every batch in is whole, and on record: its contacts and their companies.
        assert counts["import_runs"] == 0
        assert 0 < len(batches) < 40
        # Parts of whole batches of 5,000, one after another from the first record.
        ends = [b["records"][1] for b in batches]
        assert [b["records"][0] for b in batches] == [1] + [end + 1 for end in ends[:-1]]
        assert all(end % 5000 == 0 for end in ends)
        assert counts["contacts"] == ends[-1] == sum(b["inserted"] for b in batches)
        assert counts["accounts"] == min(counts["contacts"], 5000)

        report = import_file(engine, "contacts", path, truce_config.load(None), Options())
        assert (report.inserted, report.unchanged) == (200_000 - counts["contacts"], counts["contacts"])
        assert table_counts(engine)["contacts"] == 200_000
    finally:
        engine.dispose()
