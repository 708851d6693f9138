"""`truce attribution` as a user runs it: on the demo company's store, and on a journeys file."""

from __future__ import annotations

import json
import math
import re

import pytest
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.domain.attribution import FILE_MODELS
from truce.services.attribution import attribution_report
from truce.store import db

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
runner = CliRunner()
REPORT = {
    "model",
    "conversion",
    "level",
    "by",
    "lookback_days",
    "engine",
    "from",
    "to",
    "journeys",
    "total_conversions",
    "total_revenue",
    "unattributed",
    "credits",
    "notes",
}
CREDIT = {"key", "label", "conversions", "revenue", "share"}
CONTRACT = {"model", "total_conversions", "total_revenue", "channels"}
JOURNEYS = (
    "journey_id,timestamp,channel,converted,revenue\n"
    "1,2026-03-01T09:00:00Z,email,false,\n"
    "1,2026-03-02T09:00:00Z,search,false,0\n"
    "1,2026-03-05T09:00:00Z,email,true,300\n"
    "2,2026-03-03T09:00:00Z,search,false,120\n"
    "2,2026-03-04T09:00:00Z,webinar,true,100\n"
    "3,2026-03-01T09:00:00Z,webinar,false,\n"
)


def run(*args):
    return runner.invoke(app, ["attribution", *map(str, args)])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('attribution-cli') / 'demo.db'}"
    made = runner.invoke(app, ["demo", "--as-of", "2026-11-20", "--contacts", "800", "--seed", "4", "--db", url, "--json"])
    assert made.exit_code == 0, made.output
    return url


@pytest.fixture
def journeys(tmp_path):
    path = tmp_path / "journeys.csv"
    path.write_text(JOURNEYS)
    return path


def test_json_gives_the_documented_report(demo):
    result = run("--db", demo, "--model", "linear", "--by", "channel", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert set(found) == REPORT
    assert found["model"] == "linear" and found["by"] == "channel" and found["conversion"] == "won"
    assert found["level"] == "contact" and found["lookback_days"] == 180 and found["engine"] == "duckdb"
    assert found["from"] is None and found["to"] is None
    assert set(found["unattributed"]) == {"conversions", "revenue"}
    assert found["credits"] and all(set(row) == CREDIT for row in found["credits"])
    assert math.isclose(sum(r["conversions"] for r in found["credits"]), found["total_conversions"], abs_tol=1e-6)
    assert math.isclose(sum(r["revenue"] for r in found["credits"]), found["total_revenue"], abs_tol=1e-6)
    # the same numbers the service gives
    engine = db.connect(demo)
    try:
        config = truce_config.parse(truce_config.default_text(), "truce.toml")
        expected = json.loads(json.dumps(attribution_report(engine, config, model="linear")))
    finally:
        engine.dispose()
    # equal but for the last bits of float sums (DuckDB adds them in any order)
    numbers = ("total_revenue", "credits")
    assert {k: v for k, v in found.items() if k not in numbers} == {
        k: v for k, v in expected.items() if k not in numbers
    }
    assert math.isclose(found["total_revenue"], expected["total_revenue"], rel_tol=1e-12)
    mine = {r["key"]: r for r in found["credits"]}
    theirs = {r["key"]: r for r in expected["credits"]}
    assert set(mine) == set(theirs)
    for key, want in theirs.items():
        assert mine[key]["label"] == want["label"]
        for name in ("conversions", "revenue", "share"):
            assert math.isclose(mine[key][name], want[name], rel_tol=1e-12, abs_tol=1e-12), (key, name)


def test_the_default_model_comes_from_the_configuration(demo):
    found = json.loads(run("--db", demo, "--json", "--from", "2025-01-01", "--to", "2026-12-31").stdout)
    assert found["model"] == "markov"  # [attribution] model in the default truce.toml
    assert found["from"] == "2025-01-01" and found["to"] == "2026-12-31"


def test_a_table_by_team_shows_marketing_and_sales(demo):
    result = run("--db", demo, "--model", "w_shaped", "--by", "team", "--level", "account")
    assert result.exit_code == 0, result.output
    shown = " ".join(result.stdout.split())  # the console wraps long lines
    assert "w_shaped attribution by team — conversion: won, account journeys, 180-day lookback" in shown
    assert re.search(r"│ marketing +│", result.stdout) and re.search(r"│ sales +│", result.stdout)


def test_from_file_json_prints_exactly_the_contract(journeys):
    result = run("--from-file", journeys, "--model", "linear", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert set(found) == CONTRACT
    # J1: email ⅔ search ⅓ of 300; J2 (revenue 120, the largest on its rows): search ½ webinar ½
    assert found == {
        "model": "linear",
        "total_conversions": 2.0,
        "total_revenue": 420.0,
        "channels": [
            {
                "channel": "search",
                "conversions": pytest.approx(5 / 6),
                "revenue": 160.0,
                "share": pytest.approx(5 / 12),
            },
            {"channel": "email", "conversions": pytest.approx(2 / 3), "revenue": 200.0, "share": pytest.approx(1 / 3)},
            {"channel": "webinar", "conversions": 0.5, "revenue": 60.0, "share": 0.25},
        ],
    }


def test_from_file_as_a_table(journeys):
    result = run("--from-file", journeys, "--model", "first_touch")
    assert result.exit_code == 0, result.output
    assert str(journeys.name) in result.stdout
    assert "first_touch attribution by channel" in result.stdout
    assert "email" in result.stdout and "search" in result.stdout


def test_a_bad_file_exits_1_with_the_reason_on_stderr_and_nothing_on_stdout(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(JOURNEYS + "4,2026-03-07,email,maybe,\n")
    result = run("--from-file", path, "--model", "linear", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "line 8, column converted: 'maybe' is not true or false" in result.stderr
    assert "bad.csv" in result.stderr
    missing = run("--from-file", tmp_path / "nowhere.parquet", "--json")
    assert missing.exit_code == 1 and missing.stdout == "" and "no such file" in missing.stderr


@pytest.mark.parametrize("model", ["w_shaped", "full_path"])
def test_from_file_refuses_the_milestone_models(journeys, model):
    result = run("--from-file", journeys, "--model", model, "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert model in result.stderr
    assert ", ".join(FILE_MODELS) in result.stderr  # what would work


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "2026-13-01"], "--from '2026-13-01' is not a date; write it as YYYY-MM-DD"),
        (["--to", "31/01/2026"], "--to '31/01/2026' is not a date; write it as YYYY-MM-DD"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "the period starts on 2026-03-02 after it ends on 2026-03-01"),
    ],
)
def test_bad_dates_are_refused(demo, args, message):
    result = run("--db", demo, "--json", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert message in result.stderr


def test_options_outside_their_choices_are_usage_errors(demo):
    assert run("--db", demo, "--model", "u_shaped").exit_code == 2
    assert run("--db", demo, "--by", "region").exit_code == 2
    assert run("--db", demo, "--lookback", "0").exit_code == 2
