"""Bad rows: each reported by line, column and reason; by default nothing is written.

--skip-invalid loads the good rows and writes the bad ones, as they were, to a rejects file;
--dry-run checks everything and writes nothing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select

from truce.imports.service import ImportFailed, Options, import_file
from truce.store.models import Account, Base, Contact, StageChange

FIXTURES = Path(__file__).parent / "fixtures" / "import"
KNOWN_STAGES = "inquiry, mql, sal, sql, opportunity, customer, recycled, disqualified, lost"

# Every kind of bad row once, among good ones. Line numbers are on the right.
BAD_CONTACTS = """\
external_id,email,first_name,account_external_id,account_domain,stage,created_at
CON-1,ann@x.example,Ann,ACC-1,,mql,2026-03-01
CON-2,not-an-email,Bob,,,mql,2026-03-01
CON-3,cy@x.example,Cy,,,mql,31/02/2026
CON-4,di@x.example,Di,,,Qualified-ish,2026-03-01
CON-5,,Ed,,,mql,2026-03-01
CON-6,ANN@x.example,Ann again,,,sal,2026-03-02
CON-7,fy@x.example,Fy,ACC-404,,mql,2026-03-01
CON-8,gi@x.example,Gi,,nowhere.example,mql,2026-03-01
CON-9,hi@x.example,Hi,,,mql,2026-03-01,surplus
CON-1,ivy@x.example,Ivy,,,mql,2026-03-01
CON-10,jo@x.example,Jo,,acme.com,inquiry,2026-03-01
"""
EXPECTED_ERRORS = [
    (3, "email", "validation", "not an email address: 'not-an-email'"),
    (4, "created_at", "validation",
     "not a date: '31/02/2026' (use ISO 8601 such as 2026-03-31 or 2026-03-31T14:05:00Z, or MM/DD/YYYY)"),
    (5, "stage", "validation", f"unknown stage 'Qualified-ish'; known stages: {KNOWN_STAGES}"),
    (6, "email", "validation", "required value is missing"),
    (7, "email", "duplicate", "same email as line 2: 'ann@x.example'"),
    (8, "account_external_id", "not_found", "no account 'ACC-404'; import accounts first"),
    (9, "account_domain", "not_found", "no account 'nowhere.example'; import accounts first"),
    (10, "", "validation", "8 cells, but the header has 7 columns"),
    (11, "external_id", "duplicate", "same external_id as line 2: 'CON-1'"),
]


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def rows(engine, model, *columns: str) -> list[tuple]:
    table = model.__table__
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(*(table.c[c] for c in columns)).order_by(*table.primary_key.columns))]


def errors_of(report) -> list[tuple]:
    return [(e.line, e.column, e.kind, e.message) for e in report.errors]


@pytest.fixture
def accounts(engine, default_config):
    """The store already holds ACC-1 (acme.com), ACC-2 and ACC-3."""
    import_file(engine, "accounts", FIXTURES / "truce/accounts.csv", default_config)


def test_it_reports_every_bad_row_by_line_column_and_reason_and_writes_nothing(
    engine, default_config, accounts, tmp_path
):
    path = tmp_path / "contacts.csv"
    path.write_text(BAD_CONTACTS)
    before = table_counts(engine)

    with pytest.raises(ImportFailed) as caught:
        import_file(engine, "contacts", path, default_config)

    report = caught.value.report
    assert errors_of(report) == EXPECTED_ERRORS
    assert (report.rows_read, report.rejected, report.error_count, report.written) == (11, 9, 9, False)
    message = str(caught.value)
    assert message.startswith("9 of 11 rows are invalid; nothing was written.\n")
    assert f"  {path}: line 3, column 'email': not an email address: 'not-an-email'\n" in message
    assert f"  {path}: line 10: 8 cells, but the header has 7 columns\n" in message
    assert "--skip-invalid" in message
    assert table_counts(engine) == before


def test_it_writes_nothing_when_only_the_last_row_is_bad(engine, default_config, accounts, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("email,stage\n" + "".join(f"p{i}@x.example,mql\n" for i in range(7)) + "p7@x.example,nope\n")
    before = table_counts(engine)

    with pytest.raises(ImportFailed) as caught:
        import_file(engine, "contacts", path, default_config, Options(batch_size=2))

    assert errors_of(caught.value.report) == [
        (9, "stage", "validation", f"unknown stage 'nope'; known stages: {KNOWN_STAGES}")
    ]
    assert table_counts(engine) == before


def test_it_names_the_earlier_line_of_a_duplicate_in_another_batch(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,first_name\na@x.example,A\nb@x.example,B\nc@x.example,C\nA@X.example,A2\nd@x.example,D\nb@x.example,B2\n"
    )

    for batch_size in (1, 2, 20_000):
        with pytest.raises(ImportFailed) as caught:
            import_file(sqlite_engine, "contacts", path, default_config, Options(batch_size=batch_size))
        assert errors_of(caught.value.report) == [
            (5, "email", "duplicate", "same email as line 2: 'a@x.example'"),
            (7, "email", "duplicate", "same email as line 3: 'b@x.example'"),
        ], batch_size


def test_it_rejects_text_too_long_for_its_column_on_every_backend(engine, default_config, tmp_path):
    # PostgreSQL would refuse the whole COPY with a driver error; SQLite would store it whole.
    path = tmp_path / "contacts.csv"
    path.write_text(
        "external_id,email,title,lead_status\n"
        f"CON-1,ann@x.example,{'T' * 200},{'S' * 64}\n"  # exactly fits
        f"CON-2,bob@x.example,{'T' * 201},ok\n"
        f"{'C' * 65},cy@x.example,,{'S' * 65}\n"
    )
    before = table_counts(engine)

    with pytest.raises(ImportFailed) as caught:
        import_file(engine, "contacts", path, default_config)

    assert errors_of(caught.value.report) == [
        (3, "title", "validation", "201 characters, but at most 200 fit"),
        (4, "lead_status", "validation", "65 characters, but at most 64 fit"),
        (4, "external_id", "validation", "65 characters, but at most 64 fit"),
    ]
    assert table_counts(engine) == before


def test_it_rejects_a_row_whose_id_and_email_name_two_different_contacts(engine, default_config, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("external_id,email\nCON-1,ann@x.example\nCON-2,bob@x.example\n")
    import_file(engine, "contacts", first, default_config)
    second = tmp_path / "second.csv"
    second.write_text("external_id,email\nCON-1,bob@x.example\n")
    bob = dict(rows(engine, Contact, "email", "id"))["bob@x.example"]

    with pytest.raises(ImportFailed) as caught:
        import_file(engine, "contacts", second, default_config)

    assert errors_of(caught.value.report) == [
        (2, "email", "duplicate", f"email 'bob@x.example' belongs to another contact (id {bob})")
    ]


def test_it_refuses_to_rewrite_a_ledger_move_with_the_same_external_id(engine, default_config, tmp_path):
    for table in ("accounts", "contacts", "campaigns", "touchpoints", "opportunities", "stage_changes"):
        import_file(engine, table, FIXTURES / f"truce/{table}.csv", default_config)
    ledger = rows(engine, StageChange, "external_id", "to_stage", "note")
    path = tmp_path / "stage_changes.csv"
    path.write_text(
        "external_id,contact_email,from_stage,to_stage,changed_at,note\n"
        "SC-1,ann.lee@acme.com,mql,sal,2026-03-02T09:00:00Z,accepted at the Monday review\n"  # as stored
        "SC-2,ann.lee@acme.com,sal,opportunity,2026-03-10T09:00:00Z,\n"  # stored as sal → sql
    )
    before = table_counts(engine)

    with pytest.raises(ImportFailed) as caught:
        import_file(engine, "stage_changes", path, default_config)

    assert errors_of(caught.value.report) == [
        (3, "external_id", "duplicate",
         "stage change 'SC-2' is already in the ledger with other values; the ledger is append-only"),
    ]
    assert table_counts(engine) == before
    assert rows(engine, StageChange, "external_id", "to_stage", "note") == ledger


def test_it_rejects_a_hubspot_lifecycle_stage_the_config_does_not_map(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "hubspot.csv"
    path.write_text("Record ID,Email,Lifecycle Stage\n701,ann@x.example,prospectish\n")

    with pytest.raises(ImportFailed) as caught:
        import_file(sqlite_engine, "contacts", path, default_config)

    assert errors_of(caught.value.report) == [
        (2, "Lifecycle Stage", "validation",
         "unknown stage 'prospectish': add it to [mapping.hubspot.lifecycle_stage] in truce.toml"),
    ]


# -- --skip-invalid -----------------------------------------------------------------------------


def test_it_loads_the_good_rows_and_writes_the_bad_ones_to_a_rejects_file(engine, default_config, accounts, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(BAD_CONTACTS)

    report = import_file(engine, "contacts", path, default_config, Options(skip_invalid=True))

    assert (report.rows_read, report.inserted, report.rejected, report.written) == (11, 2, 9, True)
    assert errors_of(report) == EXPECTED_ERRORS
    assert rows(engine, Contact, "external_id", "email") == [("CON-1", "ann@x.example"), ("CON-10", "jo@x.example")]
    assert report.rejects_file == str(tmp_path / "contacts.rejects.csv")
    with open(report.rejects_file, newline="", encoding="utf-8") as handle:
        rejected = list(csv.reader(handle))
    assert rejected == [
        ["external_id", "email", "first_name", "account_external_id", "account_domain", "stage", "created_at", "line",
         "reason"],
        ["CON-2", "not-an-email", "Bob", "", "", "mql", "2026-03-01", "3", "email: not an email address: 'not-an-email'"],
        ["CON-3", "cy@x.example", "Cy", "", "", "mql", "31/02/2026", "4",
         "created_at: not a date: '31/02/2026' (use ISO 8601 such as 2026-03-31 or 2026-03-31T14:05:00Z, or MM/DD/YYYY)"],
        ["CON-4", "di@x.example", "Di", "", "", "Qualified-ish", "2026-03-01", "5",
         f"stage: unknown stage 'Qualified-ish'; known stages: {KNOWN_STAGES}"],
        ["CON-5", "", "Ed", "", "", "mql", "2026-03-01", "6", "email: required value is missing"],
        ["CON-6", "ANN@x.example", "Ann again", "", "", "sal", "2026-03-02", "7",
         "email: same email as line 2: 'ann@x.example'"],
        ["CON-7", "fy@x.example", "Fy", "ACC-404", "", "mql", "2026-03-01", "8",
         "account_external_id: no account 'ACC-404'; import accounts first"],
        ["CON-8", "gi@x.example", "Gi", "", "nowhere.example", "mql", "2026-03-01", "9",
         "account_domain: no account 'nowhere.example'; import accounts first"],
        # The surplus cell has no column to go in; the line number leads back to it.
        ["CON-9", "hi@x.example", "Hi", "", "", "mql", "2026-03-01", "10", "8 cells, but the header has 7 columns"],
        ["CON-1", "ivy@x.example", "Ivy", "", "", "mql", "2026-03-01", "11",
         "external_id: same external_id as line 2: 'CON-1'"],
    ]


def test_it_neutralises_formulas_in_the_rejects_file(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(
        'email,first_name,title\n'
        'bad,"=HYPERLINK(""http://evil.example"",""click"")",@SUM(A1)\n'
        "ok@x.example,-12.50,+CEO\n"
    )
    target = tmp_path / "out" / "rejected.csv"
    target.parent.mkdir()

    report = import_file(
        sqlite_engine, "contacts", path, default_config, Options(skip_invalid=True, rejects_path=str(target))
    )

    assert report.rejects_file == str(target)
    with open(target, newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["email", "first_name", "title", "line", "reason"],
            ["bad", "'=HYPERLINK(\"http://evil.example\",\"click\")", "'@SUM(A1)", "2", "email: not an email address: 'bad'"],
        ]
    # The store keeps what the file said; only the spreadsheet-bound copy is guarded.
    assert rows(sqlite_engine, Contact, "first_name", "title") == [("-12.50", "+CEO")]


def test_it_creates_no_account_for_the_company_of_a_rejected_row(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("email,company\nbad,Phantom Ltd\nann@x.example,Real Co\n")

    report = import_file(sqlite_engine, "contacts", path, default_config, Options(skip_invalid=True))

    assert (report.inserted, report.rejected, report.accounts_created) == (1, 1, 1)
    assert rows(sqlite_engine, Account, "name") == [("Real Co",)]


# -- --dry-run ----------------------------------------------------------------------------------


def test_a_dry_run_reports_what_it_would_do_and_writes_nothing(engine, default_config, accounts, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(
        "external_id,email,company,stage\n"
        "CON-1,ann@x.example,Acme Corp,mql\n"
        "CON-2,bob@x.example,New Co,sal\n"
        "CON-3,cy@x.example,New Co,inquiry\n"
    )
    before = table_counts(engine)

    report = import_file(engine, "contacts", path, default_config, Options(dry_run=True))

    assert (report.dry_run, report.written, report.rows_read, report.inserted, report.updated, report.rejected) == (
        True, False, 3, 3, 0, 0,
    )
    assert report.accounts_created == 1
    assert table_counts(engine) == before


def test_a_dry_run_with_skip_invalid_reports_bad_rows_and_writes_nothing(engine, default_config, accounts, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(BAD_CONTACTS)
    before = table_counts(engine)

    report = import_file(
        engine, "contacts", path, default_config, Options(dry_run=True, skip_invalid=True, rejects_path=str(tmp_path / "r.csv"))
    )

    assert (report.rows_read, report.inserted, report.rejected, report.written) == (11, 2, 9, False)
    assert errors_of(report) == EXPECTED_ERRORS
    assert table_counts(engine) == before


def test_imported_history_obeys_the_signed_funnel(sqlite_engine, default_config, tmp_path):
    """A back-dated move the funnel forbids is refused like any other move, naming the allowed ones."""
    from truce.imports.service import ImportFailed, import_file

    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email,stage\nann@acme.example,inquiry\nbob@acme.example,inquiry\n")
    import_file(sqlite_engine, "contacts", contacts, default_config)
    history = tmp_path / "history.csv"
    history.write_text(
        "external_id,contact_email,to_stage,changed_at\n"
        "m1,ann@acme.example,mql,2026-01-02T10:00:00Z\n"
        "m2,ann@acme.example,sal,2026-01-03T10:00:00Z\n"
        "m3,ann@acme.example,mql,2026-01-04T10:00:00Z\n"
        "m4,bob@acme.example,lost,2026-01-04T10:00:00Z\n"
    )
    with pytest.raises(ImportFailed) as failed:
        import_file(sqlite_engine, "stage_changes", history, default_config)
    errors = [(e.line, e.column, e.message) for e in failed.value.report.errors]
    assert errors == [
        (4, "to_stage", "illegal move: cannot move from 'sal' to 'mql'; allowed from 'sal': sql, opportunity, customer, recycled, disqualified"),
        (5, "to_stage", "illegal move: cannot move from a lead with no earlier move to 'lost'; allowed from a lead with no earlier move: inquiry, mql, sal, sql, opportunity, customer"),
    ]


def test_a_move_without_a_from_stage_starts_where_the_lead_was(sqlite_engine, default_config, tmp_path):
    from sqlalchemy import select

    from truce.imports.service import import_file
    from truce.store.models import StageChange

    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email\nann@acme.example\n")
    import_file(sqlite_engine, "contacts", contacts, default_config)
    history = tmp_path / "history.csv"
    history.write_text(
        "external_id,contact_email,to_stage,changed_at\n"
        "m2,ann@acme.example,sal,2026-01-03T10:00:00Z\n"
        "m1,ann@acme.example,mql,2026-01-02T10:00:00Z\n"
    )
    import_file(sqlite_engine, "stage_changes", history, default_config)
    with sqlite_engine.connect() as conn:
        moves = conn.execute(select(StageChange.external_id, StageChange.from_stage, StageChange.to_stage).order_by(StageChange.changed_at)).all()
    assert moves == [("m1", None, "mql"), ("m2", "mql", "sal")]
