"""Problems with a file as a whole: each named with the file and the line, and nothing written.

The file is refused before the store is asked anything, so SQLite alone stands in for both backends.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from truce.imports.csvfile import FileProblem
from truce.imports.service import Options, import_file
from truce.store.models import Base, Contact


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def problem(engine, config, path, table: str = "contacts", **options) -> str:
    before = table_counts(engine)
    with pytest.raises(FileProblem) as caught:
        import_file(engine, table, path, config, Options(**options))
    assert table_counts(engine) == before
    return str(caught.value)


def test_it_names_a_missing_file(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "nowhere.csv"
    assert problem(sqlite_engine, default_config, path) == f"{path}: no such file"


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf", b"  \r\n"])
def test_it_says_an_empty_file_has_no_header(sqlite_engine, default_config, tmp_path, data):
    path = tmp_path / "empty.csv"
    path.write_bytes(data)
    assert problem(sqlite_engine, default_config, path) == f"{path}: the file is empty; expected a header line first"


def test_it_loads_nothing_from_a_file_with_only_a_header(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("email,first_name\n")

    report = import_file(sqlite_engine, "contacts", path, default_config)

    assert (report.rows_read, report.inserted, report.rejected) == (0, 0, 0)


def test_it_names_the_required_column_a_header_lacks_and_suggests_format_or_mapping(
    sqlite_engine, default_config, tmp_path
):
    path = tmp_path / "people.csv"
    path.write_text("E-mail address,Name\nann@x.example,Ann\n")

    assert problem(sqlite_engine, default_config, path) == (
        f"{path}: line 1: no column for email (read as the truce dialect; "
        "use --format to choose another or --mapping to name your columns)"
    )


def test_it_names_every_alternative_when_a_table_needs_one_of_several_columns(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "moves.csv"
    path.write_text("external_id,to_stage,changed_at\nSC-1,mql,2026-03-01\n")

    assert problem(sqlite_engine, default_config, path, table="stage_changes") == (
        f"{path}: line 1: no column for contact_email or contact_external_id or opportunity_external_id "
        "(read as the truce dialect; use --format to choose another or --mapping to name your columns)"
    )


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"email,first_name\nann@x.example,Ann\nbob@x.example,B\xe9b\n", 3),  # Latin-1, near the start
        (b"email,first_name\n" + b"".join(b"p%d@x.example,P\n" % i for i in range(2000)) + b"z@x.example,\xff\n", 2002),
        (b"em\xe9il,first_name\nann@x.example,Ann\n", 1),
        (b"\xff\xfee\x00m\x00a\x00i\x00l\x00", 1),  # UTF-16
    ],
)
def test_it_names_the_line_with_bytes_that_are_not_utf8(sqlite_engine, default_config, tmp_path, data, line):
    path = tmp_path / "latin1.csv"
    path.write_bytes(data)

    assert problem(sqlite_engine, default_config, path) == f"{path}: line {line}: the file is not UTF-8 text"


def test_it_refuses_a_header_that_names_a_column_twice(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("email,first_name,email\nann@x.example,Ann,bob@x.example\n")

    assert problem(sqlite_engine, default_config, path) == f"{path}: line 1: column 'email' appears twice in the header"


def test_it_refuses_two_headers_that_differ_only_in_case_or_punctuation(sqlite_engine, default_config, tmp_path):
    # Headers match without regard to case or punctuation: these are one column, and one would be lost.
    path = tmp_path / "twice.csv"
    path.write_text("email,First Name,first_name\nann@x.example,Ann,Anne\n")

    assert problem(sqlite_engine, default_config, path) == (
        f"{path}: line 1: columns 'First Name' and 'first_name' both mean first_name; keep one"
    )


def test_it_refuses_a_header_with_a_nameless_column(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "nameless.csv"
    path.write_text("email,,stage\nann@x.example,x,mql\n")

    assert problem(sqlite_engine, default_config, path) == f"{path}: line 1: column 2 has no name in the header"


def test_it_lists_the_columns_it_ignores(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("email,Favourite colour,first_name\nann@x.example,teal,Ann\n")

    report = import_file(sqlite_engine, "contacts", path, default_config)

    assert (report.inserted, report.unknown_columns) == (1, ["Favourite colour"])


def test_a_mapping_makes_an_unknown_header_load(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("E-mail address,Given name,Funnel position\nAnn@X.example,Ann,Sales accepted lead\n")

    report = import_file(
        sqlite_engine, "contacts", path, default_config,
        # A field may be spelt as in the docs or loosely, like a header.
        Options(mapping={"E-mail address": "email", "given name": "first_name", "Funnel position": "Stage"}),
    )

    assert (report.inserted, report.unknown_columns) == (1, [])
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(Contact.email, Contact.first_name, Contact.stage)).all() == [
            ("ann@x.example", "Ann", "sal")
        ]


def test_it_refuses_a_mapping_to_a_field_truce_does_not_have(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,Given name\nann@x.example,Ann\n")

    assert problem(sqlite_engine, default_config, path, mapping={"Given name": "firstname_typo"}) == (
        "--mapping: 'Given name' names 'firstname_typo', which is not a contacts field; use one of external_id, "
        "email, first_name, last_name, title, phone, account_external_id, account_domain, company, source_channel, "
        "stage, lead_status, owner_email, created_at"
    )


def test_it_refuses_an_unknown_table(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email\nann@x.example\n")

    with pytest.raises(ValueError, match="unknown table 'leads'; choose one of users, accounts, contacts, campaigns"):
        import_file(sqlite_engine, "leads", path, default_config)
