"""`truce funnel` as a user runs it on the demo company."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from truce.cli import app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")
runner = CliRunner()

SHAPE = {
    "volume": {
        "monthly": {"month", "stage", "slice", "entered"},
        "total": {"stage", "slice", "entered"},
        "snapshot": {"stage", "slice", "count"},
    },
    "conversion": {
        "cohort": {
            "monthly": {"from_stage", "to_stage", "month", "slice", "entered", "converted", "rate", "window_open"},
            "total": {"from_stage", "to_stage", "slice", "entered", "converted", "rate", "window_open"},
        },
        "period": {
            "monthly": {"from_stage", "to_stage", "month", "slice", "entered_from", "entered_to", "rate"},
            "total": {"from_stage", "to_stage", "slice", "entered_from", "entered_to", "rate"},
        },
    },
    "skips": {
        "moves": {"from_stage", "to_stage", "skipped", "slice", "moves"},
        "stages": {"stage", "slice", "moves"},
    },
    "velocity": {"stage", "slice", "closed", "open", "median_days", "p75_days"},
    "leakage": {
        "moves": {"from_stage", "to_stage", "reason", "slice", "moves"},
        "stages": {"from_stage", "slice", "moves", "without_reason"},
    },
}
HEADER = {"level", "by", "from", "to", "window_days", "as_of", "stages", "exits", "months"}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('funnel-cli') / 'demo.db'}"
    assert run("demo", "--as-of", "2026-11-20", "--contacts", 800, "--seed", 4, "--db", url, "--json").exit_code == 0
    return url


def assert_shape(found, shape, where="report") -> None:
    if isinstance(shape, set):
        assert isinstance(found, list) and found, f"{where} is empty"
        for row in found:
            assert set(row) == shape, f"{where} row has keys {sorted(row)}"
        return
    assert set(found) == set(shape), f"{where} has keys {sorted(found)}"
    for key, inner in shape.items():
        assert_shape(found[key], inner, f"{where}.{key}")


def test_json_gives_the_documented_report(demo):
    result = run("funnel", "--db", demo, "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert set(found) == HEADER | set(SHAPE)
    assert_shape({key: found[key] for key in SHAPE}, SHAPE)
    assert (found["level"], found["by"], found["window_days"]) == ("contact", None, 90)
    assert found["stages"] == ["inquiry", "mql", "sal", "sql", "opportunity", "customer"]
    assert {r["slice"] for r in found["velocity"]} == {None}
    assert sum(r["count"] for r in found["volume"]["snapshot"]) == 800


def test_by_channel_slices_every_number(demo):
    found = json.loads(run("funnel", "--by", "channel", "--db", demo, "--json").output)
    assert found["by"] == "channel"
    channels = {r["slice"] for r in found["volume"]["total"]}
    assert len(channels) > 3 and None not in channels
    whole = json.loads(run("funnel", "--db", demo, "--json").output)
    by_stage = {r["stage"]: r["entered"] for r in whole["volume"]["total"]}
    for stage, entered in by_stage.items():
        assert sum(r["entered"] for r in found["volume"]["total"] if r["stage"] == stage) == entered
    assert {r["slice"] for r in found["conversion"]["cohort"]["total"]} <= channels


def test_accounts_inside_the_store_over_a_period(demo):
    result = run(
        "funnel", "--level", "account", "--engine", "store", "--from", "2026-01-01", "--to", "2026-03-31",
        "--window", 30, "--db", demo, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert (found["level"], found["from"], found["to"], found["window_days"]) == (
        "account",
        "2026-01-01",
        "2026-03-31",
        30,
    )
    assert found["months"] == ["2026-01", "2026-02", "2026-03"]
    assert {r["month"] for r in found["volume"]["monthly"]} <= set(found["months"])


def test_tables_for_people(demo):
    result = run("funnel", "--by", "team", "--db", demo)
    assert result.exit_code == 0, result.output
    for title in ("Volume", "Conversion", "Velocity", "Leakage"):
        assert title in result.output
    assert "marketing" in result.output and "sales" in result.output


def test_a_bad_date_is_refused_with_the_format(demo):
    result = run("funnel", "--from", "2026-13-01", "--db", demo)
    assert result.exit_code == 1
    assert "--from '2026-13-01' is not a date; write it as YYYY-MM-DD" in result.output


def test_a_period_that_ends_before_it_starts_is_refused(demo):
    result = run("funnel", "--from", "2026-03-01", "--to", "2026-02-01", "--db", demo)
    assert result.exit_code == 1
    assert "the period starts on 2026-03-01 after it ends on 2026-02-01" in result.output


def test_an_unknown_slice_is_a_usage_error(demo):
    assert run("funnel", "--by", "region", "--db", demo).exit_code == 2
