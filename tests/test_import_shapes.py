"""The shapes CSV exports come in: byte-order marks, semicolons, quoted commas and newlines, CRLF, blank lines.

Line numbers in the assertions are the physical lines an editor shows, counted by hand.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from truce.imports.service import ImportFailed, Options, import_file
from truce.store.models import Account, Contact, Opportunity


def rows(engine, model, *columns: str) -> list[tuple]:
    table = model.__table__
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(*(table.c[c] for c in columns)).order_by(table.c.id))]


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model.__table__)).scalar_one()


def write(tmp_path, data: bytes, name: str = "export.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def failure(engine, config, table, path, **options) -> list[tuple]:
    with pytest.raises(ImportFailed) as caught:
        import_file(engine, table, path, config, Options(**options))
    return [(e.line, e.column, e.message) for e in caught.value.report.errors]


def test_it_reads_a_utf8_file_with_a_byte_order_mark(sqlite_engine, default_config, tmp_path):
    path = write(tmp_path, "\ufeffemail,first_name\nzoe@x.example,Zoë\n".encode())

    report = import_file(sqlite_engine, "contacts", path, default_config)

    assert (report.inserted, report.unknown_columns) == (1, [])
    assert rows(sqlite_engine, Contact, "email", "first_name") == [("zoe@x.example", "Zoë")]


def test_it_reads_a_quoted_header_after_a_byte_order_mark(sqlite_engine, default_config, tmp_path):
    path = write(tmp_path, b'\xef\xbb\xbf"email","first_name"\r\n"zoe@x.example","Zoe"\r\n')

    import_file(sqlite_engine, "contacts", path, default_config)

    assert rows(sqlite_engine, Contact, "email", "first_name") == [("zoe@x.example", "Zoe")]


def test_it_reads_a_semicolon_separated_export_with_decimal_commas(engine, default_config, tmp_path):
    # As Excel writes CSV in much of Europe: semicolons, day-first dates, "1.234,56" for 1234.56.
    write(tmp_path, b"external_id;name;domain\nACC-1;Acme, Inc.;acme.example\n", "accounts.csv")
    path = write(
        tmp_path,
        (
            b"external_id;name;account_external_id;amount;stage;created_at\n"
            b"OPP-1;Acme; renewal;ACC-1;1.234,56;Closed Won;29/03/2026 01:30\n"
        ),
    )
    # The name holds an unquoted semicolon: one cell too many, so the row is refused, not shifted.
    assert failure(engine, default_config, "opportunities", path, day_first=True) == [
        (2, "", "7 cells, but the header has 6 columns")
    ]
    path.write_text(
        "external_id;name;account_external_id;amount;stage;created_at\n"
        'OPP-1;"Acme; renewal";ACC-1;1.234,56;Closed Won;29/03/2026 01:30\n'
        "OPP-2;Acme, add-on;ACC-1;99,5;Negotiation;01/04/2026\n"
    )
    import_file(engine, "accounts", tmp_path / "accounts.csv", default_config)

    report = import_file(engine, "opportunities", path, default_config, Options(day_first=True))

    assert report.inserted == 2
    assert rows(engine, Account, "name") == [("Acme, Inc.",)]
    assert rows(engine, Opportunity, "external_id", "name", "amount", "status", "created_at") == [
        ("OPP-1", "Acme; renewal", Decimal("1234.56"), "won", dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)),
        ("OPP-2", "Acme, add-on", Decimal("99.50"), "open", dt.datetime(2026, 4, 1, tzinfo=dt.UTC)),
    ]


@pytest.mark.parametrize(
    ("cell", "amount"),
    [
        ('"1,234.56"', Decimal("1234.56")),
        ('"1,234,567.8"', Decimal("1234567.80")),
        ('"1.234,56"', Decimal("1234.56")),
        ('"1234,5"', Decimal("1234.50")),
        ("$99.99", Decimal("99.99")),
        ("USD 250", Decimal("250.00")),
        ("0.10", Decimal("0.10")),
    ],
)
def test_it_reads_amounts_as_crms_write_them(sqlite_engine, default_config, tmp_path, cell, amount):
    path = write(tmp_path, f"external_id,amount,stage\nOPP-1,{cell},Prospecting\n".encode())

    import_file(sqlite_engine, "opportunities", path, default_config)

    assert rows(sqlite_engine, Opportunity, "amount") == [(amount,)]


def test_it_refuses_an_amount_whose_comma_is_neither_a_thousands_nor_a_decimal_mark(
    sqlite_engine, default_config, tmp_path
):
    path = write(tmp_path, b'external_id,amount,stage\nOPP-1,"1,2345",Prospecting\n')

    assert failure(sqlite_engine, default_config, "opportunities", path) == [
        (2, "amount", "not an amount: '1,2345'")
    ]


def test_it_keeps_commas_and_newlines_inside_quoted_cells(engine, default_config, tmp_path):
    path = write(
        tmp_path,
        b'email,first_name,title\n'
        b'ann@x.example,"Lee, Ann","Head of Sales,\nEMEA"\n'
        b'bob@x.example,Bob,"line one\nline two\nline three"\n',
    )

    import_file(engine, "contacts", path, default_config)

    assert rows(engine, Contact, "first_name", "title") == [
        ("Lee, Ann", "Head of Sales,\nEMEA"),
        ("Bob", "line one\nline two\nline three"),
    ]


def test_it_reports_the_line_a_record_starts_on_after_cells_with_newlines(sqlite_engine, default_config, tmp_path):
    path = write(
        tmp_path,
        b"email,title,stage\n"  # 1
        b'ann@x.example,"Head of Sales,\nEMEA",mql\n'  # 2-3
        b'bob@x.example,"one\ntwo\nthree",mql\n'  # 4-6
        b"not-an-email,CTO,mql\n"  # 7
        b'cy@x.example,"a\nb",nowhere\n'  # 8-9
        b"di@x.example,CFO,sql\n",  # 10
    )

    assert failure(sqlite_engine, default_config, "contacts", path) == [
        (7, "email", "not an email address: 'not-an-email'"),
        (8, "stage", "unknown stage 'nowhere'; known stages: inquiry, mql, sal, sql, opportunity, customer, "
         "recycled, disqualified, lost"),
    ]


def test_it_counts_lines_the_same_across_batches(sqlite_engine, default_config, tmp_path):
    path = write(
        tmp_path,
        b"email,title\n"  # 1
        b'a@x.example,"x\ny"\n'  # 2-3
        b"b@x.example,ok\n"  # 4
        b"\n"  # 5
        b'c@x.example,"x\n\ny"\n'  # 6-8
        b"bad,ok\n"  # 9
        b"e@x.example,ok\n"  # 10
        b"also bad,ok\n",  # 11
    )

    for batch_size in (1, 2, 3, 20_000):
        errors = failure(sqlite_engine, default_config, "contacts", path, batch_size=batch_size)
        assert [(line, column) for line, column, _ in errors] == [(9, "email"), (11, "email")], batch_size


def test_it_reads_crlf_line_endings_and_reports_lines_by_them(sqlite_engine, default_config, tmp_path):
    good = write(tmp_path, b"email,first_name,title\r\nann@x.example,Ann,CTO\r\nbob@x.example,Bob,\r\n", "good.csv")
    bad = write(
        tmp_path,
        b'email,first_name,title\r\nann@x.example,Ann,"Chief\r\nTechnology Officer"\r\nbob@x,Bob,\r\n',
        "bad.csv",
    )

    import_file(sqlite_engine, "contacts", good, default_config)

    # No carriage return is left on the last cell of a row.
    assert rows(sqlite_engine, Contact, "email", "first_name", "title") == [
        ("ann@x.example", "Ann", "CTO"),
        ("bob@x.example", "Bob", None),
    ]
    assert failure(sqlite_engine, default_config, "contacts", bad) == [(4, "email", "not an email address: 'bob@x'")]


def test_it_skips_blank_lines_but_counts_them(sqlite_engine, default_config, tmp_path):
    path = write(
        tmp_path,
        b"email,first_name\n"  # 1
        b"\n"  # 2
        b"ann@x.example,Ann\n"  # 3
        b"\n"  # 4
        b"\n"  # 5
        b"bob@x.example,Bob\n"  # 6
        b"\n",  # 7
    )

    report = import_file(sqlite_engine, "contacts", path, default_config)

    assert (report.rows_read, report.inserted, report.rejected) == (2, 2, 0)
    assert count(sqlite_engine, Contact) == 2
    path.write_bytes(b"email,first_name\n\nann@x.example,Ann\n\n\nbob@x,Bob\n\n")
    assert failure(sqlite_engine, default_config, "contacts", path) == [(6, "email", "not an email address: 'bob@x'")]


# ---- Parquet (what `truce export --format parquet` writes) ------------------------------------------------


def test_it_reads_a_parquet_file_and_names_a_bad_row_by_its_csv_line(sqlite_engine, default_config, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "contacts.parquet"
    table = pa.table({
        "email": ["ann@x.example", "bob@x.example", "not-an-email"],
        "stage": ["mql", "inquiry", "mql"],
        "created_at": pa.array([dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)] * 3, pa.timestamp("us", tz="UTC")),
        "employees": pa.array([None, 12, 40], pa.int64()),
    })  # fmt: skip
    pq.write_table(table, path)
    # Row 3 is line 4 of the same table written as CSV (the header is line 1); nothing is written.
    assert failure(sqlite_engine, default_config, "contacts", path) == [(4, "email", "not an email address: 'not-an-email'")]
    assert rows(sqlite_engine, Contact, "email") == []
    pq.write_table(table.slice(0, 2), path)
    report = import_file(sqlite_engine, "contacts", path, default_config)
    assert report.inserted == 2
    assert rows(sqlite_engine, Contact, "email", "stage", "created_at") == [
        ("ann@x.example", "mql", dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)),
        ("bob@x.example", "inquiry", dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)),
    ]


def test_it_refuses_a_damaged_parquet_file_by_name(sqlite_engine, default_config, tmp_path):
    path = write(tmp_path, b"PAR1 this is not really parquet")
    with pytest.raises(ValueError, match=r"cannot read the Parquet file"):
        import_file(sqlite_engine, "contacts", path, default_config)
