"""`truce survey` end to end through the CLI: take (prompts), import, report, statements."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from truce.cli import app
from truce.store import db
from truce.store.models import SurveyResponse

runner = CliRunner()
HEADER = "respondent,team,role,round," + ",".join(f"s{n}" for n in range(1, 21))


def run(*args, input=None, env=None):
    return runner.invoke(app, ["survey", *map(str, args)], input=input, env=env)


def csv_line(email, team, rating, round_name="2026-Q4", role="staff"):
    return ",".join([email, team, role, round_name, *[str(rating)] * 20])


@pytest.fixture
def store(sqlite_url, tmp_path):
    """Three sellers and three marketers, imported; eva is a user who has not answered."""
    path = tmp_path / "round.csv"
    rows = [csv_line(f"s{i}@yourco.example", "sales", 2 + i) for i in range(3)]
    rows += [csv_line(f"m{i}@yourco.example", "marketing", 3) for i in range(3)]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    users = tmp_path / "users.csv"
    users.write_text(
        "email,name,team,is_leader\neva@yourco.example,Eva,sales,true\nrob@yourco.example,Rob,revops,false\n"
    )
    assert runner.invoke(app, ["import", "users", str(users), "--db", sqlite_url]).exit_code == 0
    result = run("import", path, "--db", sqlite_url, "--as", "ria@yourco.example")
    assert result.exit_code == 0, result.output
    assert "6 responses imported into round 2026-Q4; 6 new users" in result.output
    return sqlite_url


def responses(url) -> int:
    engine = db.connect(url)
    with engine.connect() as conn:
        found = conn.execute(select(func.count()).select_from(SurveyResponse)).scalar_one()
    engine.dispose()
    return found


def test_take_asks_each_statement_and_re_asks_on_a_bad_rating(store):
    typed = "7\nfour\n4\n" + "4\n" * 19
    result = run("take", "--db", store, "--as", "eva@yourco.example", input=typed)
    assert result.exit_code == 0, result.output
    assert "1/20 What sales forecasts for a quarter is close to what it actually closes." in result.output
    assert "20/20 Each team helps present the other's plans to leadership." in result.output
    asked_first = [row for row in result.output.splitlines() if row.startswith("1/20 ")]
    assert len(asked_first) == 3  # asked again after 7 and after "four"
    assert "'7' is not a rating" in result.output and "'four' is not a rating" in result.output
    assert "Thank you. Your score: 80 of 100, integrated." in result.output
    assert responses(store) == 7
    data = json.loads(run("report", "--db", store, "--json").output)
    eva = next(r for r in data["respondents"] if r["respondent"] == "eva@yourco.example")
    assert eva == {
        "respondent": "eva@yourco.example",
        "team": "sales",
        "role": "leader",
        "score": 80,
        "type": "integrated",
    }


def test_take_refuses_a_second_answer_before_asking_anything(store):
    result = run("take", "--db", store, "--as", "s0@yourco.example", input="3\n" * 20)
    assert result.exit_code == 1
    assert "s0@yourco.example has already answered round 2026-Q4" in result.output
    assert "1/20" not in result.output
    assert responses(store) == 6


def test_take_refuses_revops_and_another_team_before_asking_anything(store):
    asked = run("take", "--db", store, env={"TRUCE_USER": "rob@yourco.example"}, input="3\n" * 20)
    assert (
        asked.exit_code == 1
        and "answered by sales and marketing; rob@yourco.example is on the revops team" in asked.output
    )
    assert "1/20" not in asked.output
    other = run("take", "--db", store, "--team", "marketing", "--as", "s0@yourco.example", input="3\n" * 20)
    assert other.exit_code == 1 and "answers as sales, not marketing" in other.output and "1/20" not in other.output


def test_take_uses_truce_user_and_the_accounts_team(store):
    done = run(
        "take", "--db", store, "--round", "2027-Q1", "--json",
        env={"TRUCE_USER": "m0@yourco.example"}, input="3\n" * 20,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "1/20 " not in done.stdout  # the questions go to stderr; the runner echoes the typed input
    kept = json.loads(done.stdout[done.stdout.index("{") :])
    assert kept == {
        "round": "2027-Q1",
        "respondent": "m0@yourco.example",
        "team": "marketing",
        "role": "staff",
        "score": 60,
        "type": "aligned",
    }


def test_take_refuses_someone_who_is_not_a_user(store):
    result = run("take", "--db", store, "--as", "who@nowhere.example", input="3\n" * 20)
    assert result.exit_code == 1 and "no user with email 'who@nowhere.example'" in result.output


def test_import_of_a_bad_file_names_the_line_and_writes_nothing(store, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "\n".join([HEADER, csv_line("a@yourco.example", "sales", 3), csv_line("b@yourco.example", "sales", 6)]) + "\n"
    )
    result = run("import", path, "--db", store)
    assert result.exit_code == 1
    assert "bad.csv, line 3, column s1: 6 is not a rating from 1 to 5" in result.output
    assert "nothing was imported" in result.output
    assert responses(store) == 6


def test_report_json_holds_the_contract(store):
    result = run("report", "--db", store, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # sellers rated all 2s, 3s and 4s: 40, 60, 80 → 60 aligned; marketers all 3s → 60
    assert data["round"] == "2026-Q4"
    assert data["company"]["score"] == 60.0 and data["company"]["type"] == "aligned"
    assert {k: data["teams"]["sales"][k] for k in ("respondents", "mean", "type")} == {
        "respondents": 3,
        "mean": 60.0,
        "type": "aligned",
    }
    assert data["teams"]["sales"]["spread"] == 16.33  # population sd of 40, 60, 80
    assert {"statement", "sales", "marketing", "gap"} <= set(data["gaps"][0])
    assert all(g["gap"] == 0 for g in data["gaps"])
    assert set(data["indicators"]) >= {"sla_compliance", "mql_acceptance_rate", "cold_leads"}


def test_report_shows_tables_with_the_scale_and_the_playbook(store):
    result = run("report", "--db", store)
    assert result.exit_code == 0, result.output
    for expected in (
        "alignment score",
        "company",
        "Perception gap",
        "Indicators from the data",
        "Target state: integrated",
        "Playbook: from aligned to integrated",
        "█",
    ):
        assert expected in result.output


def test_report_of_an_unknown_round_is_a_clear_error(store):
    result = run("report", "--db", store, "--round", "1999-Q1")
    assert result.exit_code == 1 and "no survey round '1999-Q1'; the rounds are 2026-Q4" in result.output


def test_statements_lists_all_twenty(sqlite_url):
    data = json.loads(run("statements", "--json").output)
    assert [s["statement"] for s in data] == [f"s{n}" for n in range(1, 21)]
    assert "s20" in run("statements").output
