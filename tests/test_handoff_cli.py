"""The handoff, SLA and custody commands, run as a user would on the demo company."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from truce.cli import app

runner = CliRunner()
AS_OF = "2026-11-20T00:00:00+00:00"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    assert run("demo", "--as-of", "2026-11-20", "--contacts", 1500, "--seed", 2, "--db", url, "--json").exit_code == 0
    return url


def test_the_queue_lists_waiting_leads_with_their_clocks(demo):
    result = run("handoff", "queue", "--db", demo, "--at", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    waiting = json.loads(result.output)
    assert waiting, "the demo leaves leads waiting"
    assert {"email", "owner", "hours_to_first_touch", "hours_to_decision", "routing_rule"} <= set(waiting[0])


def _waiting_lead_and_owner(demo) -> tuple[str, str]:
    lead = json.loads(run("handoff", "queue", "--db", demo, "--at", AS_OF, "--json").output)[-1]
    return lead["email"], lead["owner"]


def test_a_seller_accepts_a_lead_from_the_command_line(demo):
    email, owner = _waiting_lead_and_owner(demo)
    result = run("handoff", "accept", email, "--as", owner, "--db", demo, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["stage"] == "sal"
    waiting = json.loads(run("handoff", "queue", "--db", demo, "--json").output)
    assert email not in {w["email"] for w in waiting}


def test_a_rejection_without_a_reason_is_refused_with_the_codes(demo):
    email, owner = _waiting_lead_and_owner(demo)
    result = run("handoff", "reject", email, "--as", owner, "--db", demo)
    assert result.exit_code == 1
    assert "a rejection needs a reason; choose one of: not_icp" in result.output
    result = run("handoff", "reject", email, "--as", owner, "--reason", "not_icp", "--db", demo, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["stage"] == "disqualified"


def test_someone_who_is_not_a_user_cannot_decide(demo):
    email, _ = _waiting_lead_and_owner(demo)
    result = run("handoff", "accept", email, "--as", "nobody@truce-demo.example", "--db", demo)
    assert result.exit_code == 1 and "no user with email" in result.output


def test_the_sla_report_has_both_sides(demo):
    result = run("sla", "--db", demo, "--at", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    sales, marketing = report["sales"], report["marketing"]
    assert sales["first_touch"]["due"] == sales["first_touch"]["met"] + sales["first_touch"]["breached"]
    assert sum(p["handoffs"] for p in sales["by_person"]) == sales["handoffs"]
    assert sum(m["mqls"] for m in marketing["by_month"]) == sales["handoffs"]
    assert run("sla", "--db", demo, "--at", AS_OF).exit_code == 0


def test_a_second_sweep_records_nothing_new(demo):
    first = json.loads(run("sla", "sweep", "--db", demo, "--at", AS_OF, "--json").output)
    second = json.loads(run("sla", "sweep", "--db", demo, "--at", AS_OF, "--json").output)
    assert second["breaches_recorded"] == 0
    assert first["breaches_recorded"] >= 0


def test_custody_lists_cold_leads_with_their_holders(demo):
    result = run("custody", "--db", demo, "--at", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["leads"]
    assert {lead["team"] for lead in data["leads"]} <= {"marketing", "sales"}
    assert sum(row["cold_leads"] for row in data["by_team_and_month"]) == len(data["leads"])


def test_a_bad_moment_is_a_clear_error(demo):
    result = run("sla", "--db", demo, "--at", "yesterday")
    assert result.exit_code == 1
    assert "--at: not a date and time: 'yesterday'" in result.output


def test_a_moment_the_sla_clock_cannot_reach_is_a_clear_error_not_a_traceback(demo):
    # 2000 is more than ten years before the demo's data: the clock gives up counting hours.
    result = run("sla", "--db", demo, "--at", "2000-01-01")
    assert result.exit_code == 1
    assert "cannot run the SLA clocks that far" in result.output
    assert "Traceback" not in result.output


def test_an_illegal_move_by_hand_is_refused_with_the_allowed_moves(demo):
    customers = [c for c in json.loads(run("custody", "--db", demo, "--at", AS_OF, "--json").output)["leads"] if c["stage"] == "inquiry"]
    email = customers[0]["email"]
    result = run("lead", "move", email, "lost", "--db", demo)
    assert result.exit_code == 1
    assert "cannot move from 'inquiry' to 'lost'; allowed from 'inquiry': mql, sal, sql" in result.output
    before = json.loads(run("lead", "show", email, "--db", demo, "--json").output)
    assert before["stage"] == "inquiry"


def test_a_move_by_hand_into_the_handoff_stage_opens_a_handoff(demo):
    email = [c for c in json.loads(run("custody", "--db", demo, "--at", AS_OF, "--json").output)["leads"] if c["stage"] == "inquiry"][1]["email"]
    result = run("lead", "move", email, "mql", "--note", "asked for pricing", "--db", demo, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["team_after"] == "sales"
    record = json.loads(run("lead", "show", email, "--db", demo, "--json").output)
    assert record["moves"][-1]["to_stage"] == "mql" and record["moves"][-1]["note"] == "asked for pricing"
    assert record["handoffs"][-1]["status"] == "open"
    assert run("lead", "show", email, "--db", demo).exit_code == 0


def test_show_refuses_an_unknown_lead(demo):
    result = run("lead", "show", "nobody@nowhere.example", "--db", demo)
    assert result.exit_code == 1 and "no contact with email" in result.output
