"""The CLI as a user meets it: demo, status, db, init, config check and export."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import insert, text
from typer.testing import CliRunner

from truce.cli import app
from truce.demo.generator import generate
from truce.store import db
from truce.store.models import Contact

runner = CliRunner()
SMALL = 600  # contacts: enough for every table to hold rows, fast enough for every test


def run(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.fixture
def demo_db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = run("demo", "--contacts", SMALL, "--seed", 3, "--db", url, "--json")
    assert result.exit_code == 0, result.output
    return url


def test_help_lists_every_area_and_is_instant():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("demo", "init", "import", "export", "status", "db", "config"):
        assert command in result.output


def test_demo_summary_agrees_with_the_generated_company(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = run("demo", "--contacts", SMALL, "--seed", 3, "--db", url, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    company = generate(contacts=SMALL, seed=3).tables
    # An independent recount straight from the generator's Arrow tables.
    deals = company["opportunities"]
    won = deals.filter(pc.equal(deals["status"], "won"))
    assert Decimal(summary["revenue_won"]) == sum(won["amount"].to_pylist(), Decimal("0.00"))
    assert summary["deals_won"] == won.num_rows
    stages = {row["values"]: row["counts"] for row in pc.value_counts(company["contacts"]["stage"]).to_pylist()}
    assert {k: v for k, v in summary["contacts_per_stage"].items() if v} == stages
    for name, table in company.items():
        assert summary["tables"][name] == table.num_rows, name


def test_demo_prints_a_readable_summary(tmp_path):
    result = run("demo", "--contacts", SMALL, "--db", f"sqlite:///{tmp_path / 'd.db'}")
    assert result.exit_code == 0, result.output
    for words in ("Demo company built", "Contacts per funnel stage", "Top channels by revenue won", "Revenue won"):
        assert words in result.output


def test_demo_refuses_a_database_that_holds_records_unless_forced(demo_db):
    again = run("demo", "--contacts", SMALL, "--db", demo_db)
    assert again.exit_code == 1
    assert "already holds records; use --force" in again.output
    forced = run("demo", "--contacts", SMALL, "--seed", 4, "--db", demo_db, "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.output)["tables"]["contacts"] == SMALL


def test_the_same_seed_builds_the_same_company(tmp_path):
    first = json.loads(
        run("demo", "--contacts", SMALL, "--seed", 9, "--db", f"sqlite:///{tmp_path / 'a.db'}", "--json").output
    )
    second = json.loads(
        run("demo", "--contacts", SMALL, "--seed", 9, "--db", f"sqlite:///{tmp_path / 'b.db'}", "--json").output
    )
    first.pop("database"), second.pop("database")
    assert first == second


def test_status_counts_rows_per_table_and_names_the_schema(demo_db):
    result = run("status", "--db", demo_db, "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["schema_version"] == db.head_revision()
    engine = db.connect(demo_db)
    with engine.connect() as conn:
        for table, rows in status["tables"].items():
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == rows
    engine.dispose()


def test_status_on_a_database_without_tables_says_how_to_upgrade(tmp_path):
    result = run("status", "--db", f"sqlite:///{tmp_path / 'new.db'}")
    assert result.exit_code == 1
    assert "Run: truce db upgrade" in result.output


def test_db_upgrade_current_and_downgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert run("db", "upgrade", "--db", url).exit_code == 0
    current = json.loads(run("db", "current", "--db", url, "--json").output)
    assert current["current"] == current["head"] == db.head_revision()
    refused = run("db", "downgrade", "base", "--db", url)
    assert refused.exit_code == 1 and "--yes" in refused.output
    assert run("db", "downgrade", "base", "--db", url, "--yes").exit_code == 0
    assert json.loads(run("db", "current", "--db", url, "--json").output)["current"] is None


def test_init_writes_a_valid_commented_config_and_creates_the_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", "--db", "init.db")
    assert result.exit_code == 0, result.output
    text_ = (tmp_path / "truce.toml").read_text()
    assert text_.startswith("# truce.toml")
    checked = run("config", "check", "--config", "truce.toml", "--json")
    assert checked.exit_code == 0 and json.loads(checked.output)["valid"] is True
    assert "already exists" in run("init", "--db", "init.db").output


def test_config_check_names_the_broken_key(tmp_path):
    broken = tmp_path / "truce.toml"
    broken.write_text("[funnel]\nhandoff_stage = 'mql'\nstages = []\n")
    result = run("config", "check", "--config", broken)
    assert result.exit_code == 1
    assert f"{broken}: funnel.stages: List should have at least 2 items" in result.output.replace("\n", "")


def test_export_csv_round_trips_and_neutralises_formulas(demo_db, tmp_path):
    engine = db.connect(demo_db)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Contact),
            {
                "email": "evil@x.example",
                "first_name": '=HYPERLINK("http://x")',
                "stage": "inquiry",
                "created_at": now,
                "updated_at": now,
            },
        )
        expected = conn.execute(text("SELECT count(*) FROM contacts")).scalar_one()
    out = tmp_path / "contacts.csv"
    result = run("export", "contacts", "--db", demo_db, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == expected
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == expected
    evil = next(r for r in rows if r["email"] == "evil@x.example")
    assert evil["first_name"] == '\'=HYPERLINK("http://x")'
    engine.dispose()


def test_export_parquet_keeps_money_exact_and_time_in_utc(demo_db, tmp_path):
    out = tmp_path / "deals.parquet"
    assert run("export", "opportunities", "--db", demo_db, "--format", "parquet", "--out", out).exit_code == 0
    exported = pq.read_table(out)
    company = generate(contacts=SMALL, seed=3).tables["opportunities"]
    assert exported.num_rows == company.num_rows
    assert exported["amount"].to_pylist() == company["amount"].to_pylist()
    assert exported["created_at"].to_pylist() == company["created_at"].to_pylist()
    assert str(exported.schema.field("created_at").type) == "timestamp[us, tz=UTC]"


def test_export_refuses_an_unknown_table(demo_db):
    result = run("export", "leads", "--db", demo_db)
    assert result.exit_code == 1
    assert "unknown table 'leads'" in result.output
