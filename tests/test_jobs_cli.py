"""`truce jobs`, `truce jobs run`, `truce worker --once` and GET /api/v1/jobs, against a real store.

The schedule clock is a file (TRUCE_CLOCK_FILE), so every "now" below is the one written there.
"""

from __future__ import annotations

import json

import jobs_for_tests  # noqa: F401  (declares fleet_tick)
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app
from truce.services.logins import add_user, create_token
from truce.web.app import create_app

NOW = "2026-11-25T10:07:00+00:00"  # a Wednesday
CONFIG_TEXT = truce_config.default_text() + '\n[schedule]\nscore_refresh = "0 2 * * *"\nweekly_brief = "off"\n'


@pytest.fixture
def cli(engine, tmp_path, monkeypatch):
    clock, config = tmp_path / "clock", tmp_path / "truce.toml"
    clock.write_text(NOW, encoding="utf-8")
    config.write_text(CONFIG_TEXT, encoding="utf-8")
    monkeypatch.setenv("TRUCE_CLOCK_FILE", str(clock))
    monkeypatch.setenv("TRUCE_CONFIG", str(config))
    monkeypatch.delenv("TRUCE_TEST_JOB_HOLD", raising=False)
    monkeypatch.setenv("TRUCE_TEST_JOB_LOG", str(tmp_path / "runs.log"))
    url = engine.url.render_as_string(hide_password=False)

    def run(*args: str):
        return CliRunner().invoke(app, [*args, "--db", url])

    run.clock, run.url = clock, url
    return run


def _listed(cli) -> dict:
    result = cli("jobs", "--json")
    assert result.exit_code == 0, result.output
    return {item["name"]: item for item in json.loads(result.stdout)["jobs"]}


def test_it_lists_every_job_with_its_schedule_and_next_run_before_any_has_run(cli):
    listed = _listed(cli)
    refresh, brief, tick = listed["score_refresh"], listed["weekly_brief"], listed["fleet_tick"]
    assert (refresh["schedule"], refresh["last_run"], refresh["last_error"]) == ("0 2 * * *", None, None)
    assert refresh["next_run"] == "2026-11-25T02:00:00+00:00"  # today's 02:00 never ran: due now
    assert (brief["schedule"], brief["default_schedule"], brief["next_run"]) == ("off", "0 7 * * 1", None)
    assert (tick["schedule"], tick["next_run"]) == ("1h", "2026-11-25T10:00:00+00:00")
    assert (refresh["due_now"], tick["due_now"], brief["due_now"]) == (True, True, False)


def test_the_table_fits_80_columns_and_says_due_now(cli):
    cli("jobs", "run", "fleet_tick")
    shown = CliRunner().invoke(app, ["jobs", "--db", cli.url], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    assert max(len(line) for line in shown.output.splitlines()) <= 80
    rows = {line.split("│")[1].strip(): line for line in shown.output.splitlines() if line.startswith("│")}
    assert "due now" in rows["score_refresh"] and "never run" in rows["score_refresh"]
    assert "off" in rows["weekly_brief"] and "│ ok " in rows["fleet_tick"]  # run at the real clock, not the file's
    assert "fleet_tick, slot 2026-11-25 10:07 UTC: ticks 1, owed 1" in shown.output


def test_jobs_run_runs_one_job_now_and_the_list_shows_it(cli):
    result = cli("jobs", "run", "fleet_tick", "--json")
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    assert (run["job"], run["slot"], run["status"], run["counts"]) == ("fleet_tick", NOW, "ok", {"ticks": 1, "owed": 1})
    last = _listed(cli)["fleet_tick"]["last_run"]
    assert (last["cause"], last["status"], last["attempts"], last["counts"]) == (
        "manual",
        "ok",
        1,
        {"ticks": 1, "owed": 1},
    )
    # A manual run is extra: the 10:00 slot is still due.
    assert _listed(cli)["fleet_tick"]["next_run"] == "2026-11-25T10:00:00+00:00"


def test_jobs_run_names_the_jobs_when_the_name_is_unknown(cli):
    result = cli("jobs", "run", "nightly_magic")
    assert result.exit_code == 2
    assert "no job is called 'nightly_magic'; the jobs are: " in result.output
    assert "fleet_tick" in result.output and "score_refresh" in result.output


def test_worker_once_runs_what_is_due_and_then_nothing(cli):
    result = cli("worker", "--once", "--jobs", "fleet_tick,score_refresh", "--json")
    assert result.exit_code == 0, result.output
    runs = {run["job"]: run for run in json.loads(result.stdout)["runs"]}
    assert runs["fleet_tick"]["slot"] == "2026-11-25T10:00:00+00:00"
    assert runs["score_refresh"]["slot"] == "2026-11-25T02:00:00+00:00"
    assert runs["score_refresh"]["counts"] == {"scored": 0, "changed": 0, "crossed": 0, "moved_to_mql": 0}
    again = cli("worker", "--once", "--jobs", "fleet_tick,score_refresh", "--json")
    assert json.loads(again.stdout) == {"runs": []}
    listed = _listed(cli)
    assert listed["fleet_tick"]["next_run"] == "2026-11-25T11:00:00+00:00"
    assert listed["score_refresh"]["next_run"] == "2026-11-26T02:00:00+00:00"


def test_worker_refuses_an_unknown_job_name(cli):
    result = cli("worker", "--once", "--jobs", "fleet_tick,nope")
    assert result.exit_code == 2 and "no job is called 'nope'" in result.output


def test_a_clock_file_without_a_moment_is_a_one_line_error(cli, monkeypatch, tmp_path):
    broken = tmp_path / "not-a-clock"
    broken.write_text("yesterday", encoding="utf-8")
    monkeypatch.setenv("TRUCE_CLOCK_FILE", str(broken))
    result = cli("jobs")
    assert result.exit_code == 1 and "cannot read a moment from it" in result.output


def test_revops_reads_the_jobs_through_the_api_and_sales_may_not(engine, cli):
    cli("jobs", "run", "fleet_tick")
    add_user(engine, email="ria@yourco.example", team="revops", role="member", password="correct horse battery")
    add_user(engine, email="eva@yourco.example", team="sales", role="member", password="correct horse battery")
    config = truce_config.parse(CONFIG_TEXT, "truce.toml")
    with TestClient(create_app(engine, config), base_url="http://127.0.0.1") as client:
        ria = {"authorization": f"Bearer {create_token(engine, email='ria@yourco.example')}"}
        eva = {"authorization": f"Bearer {create_token(engine, email='eva@yourco.example')}"}
        answer = client.get("/api/v1/jobs", headers=ria)
        assert answer.status_code == 200
        jobs = {item["name"]: item for item in answer.json()["jobs"]}
        assert jobs["fleet_tick"]["last_run"]["counts"] == {"ticks": 1, "owed": 1}
        assert jobs["fleet_tick"]["last_run"]["cause"] == "manual"
        assert client.get("/api/v1/jobs", headers=eva).status_code == 403
