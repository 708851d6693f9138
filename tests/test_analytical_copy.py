"""The analytical copy (truce.analytics.copy): the store's rows, as the store reads them, at its revision."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import stat
from decimal import Decimal

import pytest
from conftest import writing
from sqlalchemy import select

from truce import config as truce_config
from truce.analytics import copy as analytical
from truce.analytics.store_read import forget
from truce.services import demo
from truce.services.attribution import attribution_report
from truce.services.economics import roi_report
from truce.services.funnel import funnel_report
from truce.services.metrics import group_metrics
from truce.store import db
from truce.store.models import Base, Contact, User

CONFIG = truce_config.load()
START, END = dt.date(2025, 6, 1), dt.date(2026, 5, 31)


@pytest.fixture
def demo_engine(database_url):
    engine = db.connect(database_url)
    demo.build(engine, contacts=150, seed=3, until=dt.date(2026, 6, 1), config=CONFIG)
    forget()
    yield engine
    engine.dispose()


def _as_python(value):
    """A value as the copy and the store both can say it: UTC datetimes, exact decimals."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _store_rows(engine, name: str, columns: list[str]) -> list[tuple]:
    table = Base.metadata.tables[name]
    with engine.connect() as conn:
        rows = conn.execute(select(*(table.c[c] for c in columns)).order_by(table.c.id)).all()
    return [tuple(_as_python(v) for v in row) for row in rows]


def _copy_rows(con, name: str, columns: list[str]) -> list[tuple]:
    quoted = ", ".join(f'"{c}"' for c in columns)
    rows = con.execute(f'SELECT {quoted} FROM "{name}" ORDER BY id').fetchall()
    return [tuple(_as_python(v) for v in row) for row in rows]


def test_the_copy_holds_every_row_of_every_copied_table_as_the_store_reads_it(demo_engine):
    con = analytical.open_copy(demo_engine)
    try:
        for name in analytical.COPIED:
            columns = [c.name for c in Base.metadata.tables[name].columns if c.name != "password_hash"]
            store_rows = _store_rows(demo_engine, name, columns)
            assert store_rows, f"the demo wrote no {name}"
            assert _copy_rows(con, name, columns) == store_rows, name
    finally:
        con.close()


def test_secrets_stay_in_the_store_and_the_file_is_private(sqlite_engine):
    with writing(sqlite_engine) as conn:
        conn.execute(
            User.__table__.insert().values(
                email="a@x.example",
                name="A",
                team="sales",
                is_leader=False,
                active=True,
                access="member",
                created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                password_hash="$argon2id$secret",
            )
        )
    con = analytical.open_copy(sqlite_engine)
    try:
        columns = [row[0] for row in con.execute("DESCRIBE users").fetchall()]
        assert "email" in columns and "password_hash" not in columns
    finally:
        con.close()
    path = analytical.copy_path(sqlite_engine)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert b"argon2id" not in path.read_bytes()


def test_a_write_is_in_the_next_copy_opened(sqlite_engine):
    before = analytical.open_copy(sqlite_engine)
    assert before.execute("SELECT count(*) FROM contacts").fetchone() == (0,)
    with writing(sqlite_engine) as conn:
        conn.execute(
            Contact.__table__.insert().values(
                email="new@x.example",
                stage="inquiry",
                created_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
                updated_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
            )
        )
    after = analytical.open_copy(sqlite_engine)
    try:
        # The old connection keeps reading the file it opened; the new one reads the store's present.
        assert before.execute("SELECT count(*) FROM contacts").fetchone() == (0,)
        assert after.execute("SELECT email FROM contacts").fetchall() == [("new@x.example",)]
    finally:
        before.close()
        after.close()


def test_a_store_rebuilt_to_the_same_revision_number_is_not_taken_for_the_old_one(tmp_path, sqlite_template):
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    for path, email in ((first, "first@x.example"), (second, "second@x.example")):
        shutil.copy(sqlite_template, path)
        engine = db.connect(f"sqlite:///{path}")
        with writing(engine) as conn:
            conn.exec_driver_sql(
                "INSERT INTO contacts (email, stage, created_at, updated_at)"
                f" VALUES ('{email}', 'inquiry', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        engine.dispose()
    engine_a, engine_b = db.connect(f"sqlite:///{first}"), db.connect(f"sqlite:///{second}")
    assert analytical.store_stamp(engine_a)[0] == analytical.store_stamp(engine_b)[0]
    analytical.open_copy(engine_a).close()
    # b's copy is a's file, under the name b's revision number would have with a's moment.
    analytical.copy_folder(engine_b).mkdir()
    shutil.copy(analytical.copy_path(engine_a), analytical.copy_folder(engine_b) / analytical.copy_path(engine_a).name)
    con = analytical.open_copy(engine_b)
    try:
        assert con.execute("SELECT email FROM contacts").fetchall() == [("second@x.example",)]
    finally:
        con.close()
        engine_a.dispose()
        engine_b.dispose()


def _reports(engine) -> str:
    forget()
    funnel = funnel_report(engine, CONFIG, start=START, end=END, by="channel")
    credit = [
        attribution_report(engine, CONFIG, model=model, start=START, end=END, by=by)
        for model in ("linear", "markov", "shapley")
        for by in ("channel", "team")
    ]
    # Joint activity (which accounts both teams touched, by month and in meetings) over the
    # period and over all time: SQL on the store's rows against DuckDB's on the copy.
    joint = [group_metrics(engine, CONFIG, start=START, end=END)["joint_activity"], group_metrics(engine, CONFIG)["joint_activity"]]
    assert joint[1]["accounts_touched_by_both"] > 0  # (meetings with both teams: none at this size)
    return json.dumps({"funnel": funnel, "attribution": credit, "joint": joint}, sort_keys=True, default=str)


def test_reports_on_the_copy_equal_reports_on_the_store_rows(demo_engine, monkeypatch):
    on_copy = _reports(demo_engine)
    assert analytical.copy_path(demo_engine).is_file()
    monkeypatch.setenv("TRUCE_COPY", "off")
    assert analytical.copy_folder(demo_engine) is None
    assert _reports(demo_engine) == on_copy


def test_a_copy_another_process_is_rebuilding_sends_the_reader_to_the_store(sqlite_engine, monkeypatch):
    monkeypatch.setattr(analytical, "LOCK_WAIT_SECONDS", 0.2)
    folder = analytical.copy_folder(sqlite_engine)
    folder.mkdir()
    with open(folder / "rebuild.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another open file: flock excludes it as it would another process
        with pytest.raises(analytical.CopyUnavailable, match="rebuilding"):
            analytical.open_copy(sqlite_engine)
        # The report still answers, from the store's rows.
        assert funnel_report(sqlite_engine, CONFIG, start=START, end=END)["stages"] is not None


def test_an_in_memory_store_has_no_copy():
    engine = db.connect("sqlite://")
    assert analytical.copy_folder(engine) is None
    with pytest.raises(analytical.CopyUnavailable):
        analytical.open_copy(engine)


def test_the_copy_is_rebuilt_once_per_revision_however_many_reports_read_it(demo_engine, monkeypatch):
    rebuilt = []
    real = analytical.rebuild
    monkeypatch.setattr(analytical, "rebuild", lambda *a: rebuilt.append(1) or real(*a))
    roi_report(demo_engine, CONFIG)  # three attribution runs
    funnel_report(demo_engine, CONFIG, start=START, end=END)
    assert len(rebuilt) == 1
    with writing(demo_engine) as conn:
        conn.execute(Contact.__table__.update().where(Contact.id == 1).values(stage="mql"))
    funnel_report(demo_engine, CONFIG, start=START, end=END)
    funnel_report(demo_engine, CONFIG, start=START, end=END)
    assert len(rebuilt) == 2


def test_a_copy_switch_that_is_neither_on_nor_off_is_refused_by_name(sqlite_engine, monkeypatch):
    monkeypatch.setenv("TRUCE_COPY", "sometimes")
    with pytest.raises(ValueError, match="TRUCE_COPY='sometimes' must be on or off"):
        analytical.copy_folder(sqlite_engine)


def test_a_migration_makes_a_new_copy_though_the_data_did_not_move(sqlite_engine):
    before = analytical.store_stamp(sqlite_engine)
    with sqlite_engine.begin() as conn:  # as `truce db upgrade` would: the schema moves, the data revision not
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'a_later_one'")
    after = analytical.store_stamp(sqlite_engine)
    assert after[0] == before[0]
    assert analytical.copy_path(sqlite_engine, after) != analytical.copy_path(sqlite_engine, before)
