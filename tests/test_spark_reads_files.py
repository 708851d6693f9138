"""With `--engine spark`, Spark reads the store's tables itself — the analytical copy's Parquet
files — and computes; no row of the store passes through this Python process.

The answers are DuckDB's on the same store (the same Ibis expressions, another engine): counts
exactly, money to 1e-9 of the total (sums are added in another order).
"""

from __future__ import annotations

import shutil
import stat

import pytest
from conftest import writing
from test_attribution_spark import assert_same
from typer.testing import CliRunner

from truce import config as truce_config
from truce.analytics import copy as analytical_copy
from truce.cli import app
from truce.services import demo
from truce.services.attribution import attribution_report
from truce.services.funnel import funnel_report
from truce.store import db

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")


@pytest.fixture(scope="module")
def demo_engine(sqlite_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("spark-files") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=600, seed=12)
    yield engine
    engine.dispose()


@pytest.fixture
def no_rows_handed_over(monkeypatch, demo_engine):
    """Fail any attempt to read the store's rows into Python for Spark, or to hand Spark a table
    as long as one of the store's (a key lookup, one row per channel or campaign, may go over)."""
    with demo_engine.connect() as conn:
        shortest = conn.exec_driver_sql("SELECT count(*) FROM contacts").scalar_one()
    from truce.analytics import attribution_sources, sources, spark

    def refuse(*args, **kwargs):
        raise AssertionError("the store's rows were read into Python for Spark")

    handed_over = spark.hand_over

    def small_only(con, name, table):
        assert table.num_rows < shortest, f"{table.num_rows:,} rows handed to Spark from Python as {name}"
        return handed_over(con, name, table)

    monkeypatch.setattr(spark, "hand_over", small_only)
    monkeypatch.setattr(attribution_sources, "read_store", refuse)
    monkeypatch.setattr(sources, "_read_canonical", refuse)


@pytest.mark.spark
@pytest.mark.parametrize(
    "options",
    [
        # Every model on Spark against DuckDB: tests/test_attribution_spark.py (also on the files).
        {"model": "markov", "by": "campaign", "conversion": "mql"},
        {"model": "shapley", "by": "team", "level": "account", "conversion": "opportunity"},
    ],
)
def test_spark_attributes_from_the_copys_files_as_duckdb_does(spark_con, demo_engine, no_rows_handed_over, options):
    duck = attribution_report(demo_engine, CONFIG, **options)
    assert duck["total_conversions"] > 10, "a demo with conversions to credit, or the test proves nothing"
    assert_same(duck, attribution_report(demo_engine, CONFIG, **options, backend="spark"))


@pytest.mark.spark
@pytest.mark.parametrize("options", [{"by": "channel", "level": "account"}, {"by": "team"}])
def test_spark_counts_the_funnel_from_the_copys_files_as_duckdb_does(spark_con, demo_engine, no_rows_handed_over, options):
    duck = funnel_report(demo_engine, CONFIG, **options)
    spark = funnel_report(demo_engine, CONFIG, **options, backend="spark")
    assert duck["volume"] and duck == spark


@pytest.mark.spark
def test_without_a_copy_spark_is_handed_the_rows_and_answers_the_same(spark_con, demo_engine, monkeypatch):
    duck = funnel_report(demo_engine, CONFIG, by="channel")
    monkeypatch.setenv("TRUCE_COPY", "off")
    assert funnel_report(demo_engine, CONFIG, by="channel", backend="spark") == duck


def test_the_files_are_written_once_per_copy_privately_and_leave_with_it(sqlite_engine):
    demo.build(sqlite_engine, contacts=40, seed=3)
    first = analytical_copy.parquet_of_copy(sqlite_engine)
    assert sorted(p.name for p in first.iterdir()) == sorted(f"{name}.parquet" for name in analytical_copy.COPIED)
    assert stat.S_IMODE(first.stat().st_mode) == 0o700  # names and e-mail addresses, like the store
    written = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}
    assert analytical_copy.parquet_of_copy(sqlite_engine) == first
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == written  # not written again

    import pyarrow.parquet as pq

    with sqlite_engine.connect() as conn:
        contacts = conn.exec_driver_sql("SELECT count(*) FROM contacts").scalar_one()
    assert pq.read_metadata(first / "contacts.parquet").num_rows == contacts
    assert "password_hash" not in pq.read_schema(first / "users.parquet").names

    with writing(sqlite_engine) as conn:
        conn.exec_driver_sql("UPDATE contacts SET first_name = 'Ada' WHERE id = 1")
    second = analytical_copy.parquet_of_copy(sqlite_engine)
    assert second != first and second.is_dir() and not first.exists()


def test_spark_master_is_refused_without_the_spark_engine_or_with_a_url_that_is_none(sqlite_url):
    run = CliRunner().invoke
    alone = run(app, ["funnel", "--spark-master", "local[2]", "--db", sqlite_url])
    assert alone.exit_code == 1 and "add --engine spark" in alone.output
    wrong = run(app, ["attribution", "--engine", "spark", "--spark-master", "http://spark:8080", "--db", sqlite_url])
    assert wrong.exit_code == 1 and "not a Spark master URL: 'http://spark:8080'" in wrong.output


def test_a_bad_truce_spark_memory_is_refused_by_name_before_any_work(sqlite_url, monkeypatch, tmp_path):
    monkeypatch.setenv("TRUCE_SPARK_MEMORY", "lots")
    run = CliRunner().invoke
    for args in (
        ["funnel", "--engine", "spark", "--db", sqlite_url],
        ["attribution", "--engine", "spark", "--db", sqlite_url],
    ):
        found = run(app, args)
        assert found.exit_code == 1, found.output
        assert "TRUCE_SPARK_MEMORY='lots' is not a size such as 512m or 4g" in found.output
        assert found.exception is None or isinstance(found.exception, SystemExit)
    # Without --engine spark the variable is not read.
    assert run(app, ["funnel", "--db", sqlite_url, "--json"]).exit_code == 0
