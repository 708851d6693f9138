"""The CLI as a user meets it: demo, status, db, init, config check and export."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import writing
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
    result = run("demo", "--as-of", "2026-11-20", "--contacts", SMALL, "--seed", 3, "--db", url, "--json")
    assert result.exit_code == 0, result.output
    return url


def test_help_lists_every_area_and_is_instant():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("demo", "init", "import", "export", "status", "db", "config"):
        assert command in result.output


def test_demo_summary_agrees_with_the_generated_company(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = run("demo", "--as-of", "2026-11-20", "--contacts", SMALL, "--seed", 3, "--db", url, "--json")
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
    result = run("demo", "--as-of", "2026-11-20", "--contacts", SMALL, "--db", f"sqlite:///{tmp_path / 'd.db'}")
    assert result.exit_code == 0, result.output
    for words in ("Demo company built", "Contacts per funnel stage", "Top channels by revenue won", "Revenue won"):
        assert words in result.output


def test_demo_refuses_a_database_that_holds_records_unless_forced(demo_db):
    again = run("demo", "--as-of", "2026-11-20", "--contacts", SMALL, "--db", demo_db)
    assert again.exit_code == 1
    assert "already holds records; use --force" in again.output
    forced = run("demo", "--as-of", "2026-11-20", "--contacts", SMALL, "--seed", 4, "--db", demo_db, "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.output)["tables"]["contacts"] == SMALL


def _history(url: str) -> dict[str, int]:
    """Rows in the audit trail and the stage ledger, and how many of each someone other than the demo wrote."""
    engine = db.connect(url)
    with engine.connect() as conn:
        counted = {
            name: conn.execute(text(query)).scalar_one()
            for name, query in {
                "audit_log": "SELECT count(*) FROM audit_log",
                "stage_changes": "SELECT count(*) FROM stage_changes",
                "audit_log not by demo": "SELECT count(*) FROM audit_log WHERE actor <> 'demo'",
                "stage_changes not from demo": "SELECT count(*) FROM stage_changes WHERE origin <> 'demo'",
            }.items()
        }
    engine.dispose()
    return counted


def test_the_demo_writes_its_history_in_its_own_name(demo_db):
    history = _history(demo_db)
    assert history["audit_log"] >= 2 and history["stage_changes"] > SMALL
    assert history["audit_log not by demo"] == history["stage_changes not from demo"] == 0


def _a_lead_at(url: str, stage: str) -> str:
    engine = db.connect(url)
    with engine.connect() as conn:
        email = conn.execute(text("SELECT email FROM contacts WHERE stage = :s ORDER BY id"), {"s": stage}).first()[0]
    engine.dispose()
    return email


def test_demo_force_refuses_to_drop_history_the_demo_did_not_write(demo_db):
    moved = run("lead", "move", _a_lead_at(demo_db, "inquiry"), "mql", "--db", demo_db)
    assert moved.exit_code == 0, moved.output
    before = _history(demo_db)
    assert before["audit_log not by demo"] == before["stage_changes not from demo"] == 1
    refused = run("demo", "--as-of", "2026-11-20", "--contacts", SMALL, "--seed", 4, "--db", demo_db, "--force")
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1, said
    assert "1 audit entry not by 'demo' and 1 stage-ledger row not of origin 'demo'" in said
    assert "nothing was changed" in said and "add --discard-history" in said
    assert _history(demo_db) == before
    assert json.loads(run("status", "--db", demo_db, "--json").output)["tables"]["contacts"] == SMALL
    forced = run("demo", "--as-of", "2026-11-20", "--contacts", SMALL, "--seed", 4, "--db", demo_db, "--force", "--discard-history", "--json")
    assert forced.exit_code == 0, forced.output
    after = _history(demo_db)
    assert after["audit_log not by demo"] == after["stage_changes not from demo"] == 0


def test_db_downgrade_refuses_to_drop_the_trail_and_the_ledger_while_they_hold_rows(demo_db):
    before = _history(demo_db)
    refused = run("db", "downgrade", "base", "--yes", "--db", demo_db)
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1, said
    entries, moves = f"{before['audit_log']:,}", f"{before['stage_changes']:,}"
    assert f"{entries} audit entries and {moves} stage-ledger rows would be lost" in said
    assert "nothing was changed" in said and "add --discard-history" in said
    assert _history(demo_db) == before
    assert json.loads(run("db", "current", "--db", demo_db, "--json").output)["current"] == db.head_revision()
    # Back to the first revision keeps the trail and the ledger, so it needs no flag.
    assert run("db", "downgrade", db.HISTORY_REVISION, "--yes", "--db", demo_db).exit_code == 0
    assert _history(demo_db) == before
    dropped = run("db", "downgrade", "base", "--yes", "--discard-history", "--db", demo_db)
    assert dropped.exit_code == 0, dropped.output
    assert json.loads(run("db", "current", "--db", demo_db, "--json").output)["current"] is None


def test_db_downgrade_names_a_revision_it_cannot_reach(demo_db):
    result = run("db", "downgrade", "nonsense", "--yes", "--db", demo_db)
    assert result.exit_code == 1 and "cannot downgrade to 'nonsense'" in result.output


def test_the_same_seed_builds_the_same_company(tmp_path):
    first = json.loads(
        run("demo", "--as-of", "2026-11-20", "--contacts", SMALL, "--seed", 9, "--db", f"sqlite:///{tmp_path / 'a.db'}", "--json").output
    )
    second = json.loads(
        run("demo", "--as-of", "2026-11-20", "--contacts", SMALL, "--seed", 9, "--db", f"sqlite:///{tmp_path / 'b.db'}", "--json").output
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
    with writing(engine) as conn:
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
