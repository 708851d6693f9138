"""Reports in plain English: counts agree with their nouns, a dry run says what would happen,
moments read to the minute in UTC, and "new" says what it means when there is no period."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import sqlite3

import pytest
from typer.testing import CliRunner

from truce.cli import app, common
from truce.services import demo
from truce.store import db

runner = CliRunner(env={"TRUCE_CONFIG": None, "TRUCE_DATABASE_URL": None, "TRUCE_USER": None})


def truce(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _contacts_file(tmp_path, companies: list[str]):
    path = tmp_path / "contacts.csv"
    rows = [f"lead{i}@new-{i}.example,Lead,Number{i},{company},inquiry" for i, company in enumerate(companies)]
    path.write_text("email,first_name,last_name,company,stage\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("companies", "dry_run", "says"),
    [
        (["Orbit Labs"], False, "1 account created from company names"),
        (["Orbit Labs", "Pine Works"], False, "2 accounts created from company names"),
        (["Orbit Labs"], True, "1 account would be created from company names"),
        (["Orbit Labs", "Pine Works"], True, "2 accounts would be created from company names"),
    ],
)
def test_it_counts_accounts_made_from_company_names_in_plain_english(sqlite_url, tmp_path, companies, dry_run, says):
    path = _contacts_file(tmp_path, companies)
    output = truce("import", "contacts", path, "--db", sqlite_url, *(["--dry-run"] if dry_run else []))
    assert says in output
    assert "createedd" not in output and "would created" not in output


def test_it_says_a_dry_run_would_record_stage_changes_not_that_it_did(sqlite_url, tmp_path):
    path = _contacts_file(tmp_path, ["Orbit Labs"])
    output = truce("import", "contacts", path, "--db", sqlite_url, "--dry-run")
    assert "recorded in the ledger" not in output.replace("would be recorded in the ledger", "")
    assert "1 valid row;" in output
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as con:
        assert con.execute("SELECT count(*) FROM stage_changes").fetchone() == (0,)


def test_it_counts_one_row_as_a_row():
    assert common.counted(1, "row") == "1 row"
    assert common.counted(0, "row") == "0 rows"
    assert common.counted(1200, "account") == "1,200 accounts"


def test_it_writes_a_moment_to_the_minute_in_utc():
    # 16:05:59.9 at +02:00 is 14:05 UTC; seconds are dropped, not rounded.
    moment = dt.datetime(2026, 11, 3, 16, 5, 59, 900000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert common.moment(moment) == "2026-11-03 14:05 UTC"
    assert common.moment("2026-11-03T14:05:12.5+00:00") == "2026-11-03 14:05 UTC"
    assert common.moment(None) == "—"


@pytest.fixture(scope="module")
def demo_db(sqlite_template, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("wording") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=600, seed=3)
    engine.dispose()
    return str(path)


def test_it_explains_a_score_at_a_readable_moment(demo_db):
    with sqlite3.connect(demo_db) as con:
        (email,) = con.execute("SELECT email FROM contacts WHERE stage = 'mql' ORDER BY id LIMIT 1").fetchone()
    output = truce("score", "explain", email, "--db", demo_db)
    assert re.search(rf"Score of {re.escape(email)} \(mql\) at \d{{4}}-\d\d-\d\d \d\d:\d\d UTC", output), output
    assert "+00:00" not in output


def test_it_says_what_new_segments_mean_over_all_time(demo_db):
    output = truce("metrics", "--db", demo_db)
    assert "first won in the period" not in output
    assert "All segments won so far (over all time each counts as new" in output


def test_it_calls_segments_new_within_a_period(demo_db):
    output = truce("metrics", "--db", demo_db, "--from", "2026-01-01", "--to", "2026-06-30")
    assert "over all time" not in output
    if "segments" in output.lower():
        assert "New segments (first won deal company-wide in the period)" in output
