"""`truce import` from the command line: the same import, its report as text or JSON, and its exit code."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from truce.cli import app
from truce.store import db
from truce.store.models import AuditEntry, Base, Contact, ImportRun, StageChange

FIXTURES = Path(__file__).parent / "fixtures" / "import"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"TRUCE_CONFIG": None, "TRUCE_DATABASE_URL": None, "TRUCE_USER": None})


@pytest.fixture
def store(sqlite_url):
    engine = db.connect(sqlite_url)
    yield engine
    engine.dispose()


def truce(runner, *args: str):
    return runner.invoke(app, [str(a) for a in args])


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def test_it_prints_the_report_as_json(runner, sqlite_url, store):
    result = truce(runner, "import", "contacts", FIXTURES / "hubspot/contacts-internal.csv", "--db", sqlite_url, "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("ok", "dialect", "rows_read", "inserted", "updated", "unchanged", "rejected")} == {
        "ok": True, "dialect": "hubspot", "rows_read": 3, "inserted": 3, "updated": 0, "unchanged": 0, "rejected": 0,
    }
    assert (report["stage_changes_recorded"], report["accounts_created"], report["errors"]) == (7, 1, [])
    assert table_counts(store)["contacts"] == 3

    again = json.loads(truce(runner, "import", "contacts", FIXTURES / "hubspot/contacts-internal.csv", "--db",
                             sqlite_url, "--json").stdout)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)


def test_it_prints_the_errors_as_json_and_exits_non_zero(runner, sqlite_url, store, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("email,stage\nann@x.example,mql\nbob@,mql\ncy@x.example,later\n")

    result = truce(runner, "import", "contacts", path, "--db", sqlite_url, "--json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["ok"], report["rows_read"], report["inserted"], report["rejected"]) == (False, 3, 0, 2)
    assert report["errors"] == [
        {"line": 3, "column": "email", "kind": "validation", "message": "not an email address: 'bob@'"},
        {"line": 4, "column": "stage", "kind": "validation",
         "message": "unknown stage 'later'; known stages: inquiry, mql, sal, sql, opportunity, customer, recycled, "
                    "disqualified, lost"},
    ]
    assert table_counts(store)["contacts"] == 0


def test_it_explains_a_failed_import_on_stderr_and_exits_non_zero(runner, sqlite_url, store, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("email,stage\nann@x.example,mql\nbob@,mql\n")

    result = truce(runner, "import", "contacts", path, "--db", sqlite_url)

    assert result.exit_code == 1
    assert "1 of 2 rows are invalid; nothing was written." in result.stderr
    assert "line 3, column 'email': not an email address: 'bob@'" in result.stderr
    assert result.stdout == ""
    assert table_counts(store)["contacts"] == 0


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (None, "no such file"),
        (b"", "the file is empty; expected a header line first"),
        (b"name\nAnn\n", "line 1: no column for email"),
        (b"email,first_name\nann@x.example,B\xe9b\n", "line 2: the file is not UTF-8 text"),
    ],
)
def test_it_reports_a_file_problem_in_one_line_without_a_traceback(runner, sqlite_url, tmp_path, data, says):
    path = tmp_path / "contacts.csv"
    if data is not None:
        path.write_bytes(data)

    result = truce(runner, "import", "contacts", path, "--db", sqlite_url, "--json")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert says in result.stderr.replace("\n", "")
    assert "Traceback" not in result.output


def test_it_loads_good_rows_and_writes_rejects_with_skip_invalid(runner, sqlite_url, store, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text('email,title\nann@x.example,CTO\nbob@,"=HYPERLINK(""http://x.example"")"\n')
    rejects = tmp_path / "fix-me.csv"

    result = truce(runner, "import", "contacts", path, "--db", sqlite_url, "--skip-invalid", "--rejects", rejects,
                   "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["ok"], report["inserted"], report["rejected"], report["rejects_file"]) == (True, 1, 1, str(rejects))
    with open(rejects, newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["email", "title", "line", "reason"],
            ["bob@", "'=HYPERLINK(\"http://x.example\")", "3", "email: not an email address: 'bob@'"],
        ]
    assert table_counts(store)["contacts"] == 1


def test_a_dry_run_reports_counts_and_writes_nothing(runner, sqlite_url, store):
    before = table_counts(store)

    result = truce(runner, "import", "contacts", FIXTURES / "salesforce/leads-api.csv", "--db", sqlite_url,
                   "--dry-run", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["dry_run"], report["written"], report["rows_read"], report["inserted"], report["accounts_created"]) == (
        True, False, 3, 3, 2,
    )
    assert table_counts(store) == before

    text = truce(runner, "import", "contacts", FIXTURES / "salesforce/leads-api.csv", "--db", sqlite_url, "--dry-run")
    assert text.exit_code == 0
    assert "3 new" in text.stdout
    assert "nothing written" in text.stdout
    assert table_counts(store) == before


def test_a_mapping_file_names_the_columns_truce_does_not_know(runner, sqlite_url, store, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("E-mail address,Given name,Where in funnel\nAnn@X.example,Ann,MQL\n")
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("header,field\nE-mail address,email\nGiven name,first_name\nWhere in funnel,stage\n")

    without = truce(runner, "import", "contacts", path, "--db", sqlite_url)
    result = truce(runner, "import", "contacts", path, "--db", sqlite_url, "--mapping", mapping, "--json")

    assert without.exit_code == 1
    assert "--format" in without.stderr and "--mapping" in without.stderr
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unknown_columns"] == []
    with store.connect() as conn:
        assert conn.execute(select(Contact.email, Contact.first_name, Contact.stage)).all() == [("ann@x.example", "Ann", "mql")]


def test_format_forces_the_dialect(runner, sqlite_url, store, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("Email,Title,Lead Status\nann@x.example,CTO,Closed - Converted\n")

    result = truce(runner, "import", "contacts", path, "--db", sqlite_url, "--format", "salesforce", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dialect"] == "salesforce"
    with store.connect() as conn:
        assert conn.execute(select(Contact.stage)).scalar_one() == "sql"


def test_it_records_who_imported_and_reads_day_first_dates(runner, sqlite_url, store, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("email,created_at\nann@x.example,03/04/2026 09:30\n")

    result = truce(runner, "import", "contacts", path, "--db", sqlite_url, "--day-first", "--as", "ops@truce.example")

    assert result.exit_code == 0, result.output
    with store.connect() as conn:
        (created,) = conn.execute(select(Contact.created_at)).one()
        runs = conn.execute(select(ImportRun.actor, ImportRun.target_table, ImportRun.inserted)).all()
        audit = conn.execute(select(AuditEntry.actor, AuditEntry.action)).all()
    assert (created.year, created.month, created.day, created.hour, created.minute) == (2026, 4, 3, 9, 30)
    assert runs == [("ops@truce.example", "contacts", 1)]
    assert audit == [("ops@truce.example", "import")]


def test_it_imports_stage_changes_by_their_hyphenated_name(runner, sqlite_url, store):
    for table in ("accounts", "contacts", "campaigns", "touchpoints", "opportunities"):
        assert truce(runner, "import", table, FIXTURES / f"truce/{table}.csv", "--db", sqlite_url).exit_code == 0

    result = truce(runner, "import", "stage-changes", FIXTURES / "truce/stage_changes.csv", "--db", sqlite_url, "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inserted"] == 3
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(StageChange)).scalar_one() == 3


def test_it_refuses_a_database_without_truce_tables(runner, tmp_path):
    result = truce(runner, "import", "contacts", FIXTURES / "truce/contacts.csv", "--db", f"sqlite:///{tmp_path / 'new.db'}")

    assert result.exit_code == 1
    assert "truce db upgrade" in result.stderr.replace("\n", "")
