"""Every report route answers what its CLI command prints with --json, option for option.

The API and the CLI are two faces of one service function: run both on one demo store and
the JSON must be equal, to the last digit. Bad options are refused with the path of the
query parameter, never with a 500.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app as cli
from truce.services import demo
from truce.services.logins import add_user, create_token
from truce.services.survey import record_response
from truce.store import db
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
AT = "2026-11-20T12:00:00Z"
DAY = "2026-11-20"

# (API path and query, the CLI command line that must print the same JSON)
REPORTS = [
    ("/reports/funnel", ["funnel"]),
    ("/reports/funnel?by=channel&from=2026-01-01&to=2026-06-30&level=account&window=60&engine=store",
     ["funnel", "--by", "channel", "--from", "2026-01-01", "--to", "2026-06-30", "--level", "account", "--window", "60",
      "--engine", "store"]),
    (f"/reports/sla?at={AT}", ["sla", "--at", AT]),
    (f"/reports/custody?at={AT}", ["custody", "--at", AT]),
    ("/reports/attribution", ["attribution"]),
    ("/reports/attribution?model=markov&by=team&conversion=opportunity&level=account&lookback=60&from=2026-01-01",
     ["attribution", "--model", "markov", "--by", "team", "--conversion", "opportunity", "--level", "account",
      "--lookback", "60", "--from", "2026-01-01"]),
    ("/reports/roi?by=campaign&model=linear&from=2026-01-01&to=2026-06-30",
     ["roi", "--by", "campaign", "--model", "linear", "--from", "2026-01-01", "--to", "2026-06-30"]),
    ("/reports/budget?what_if=paid_search:-20%25,webinar:%2B20%25", ["budget", "--what-if", "paid_search:-20%,webinar:+20%"]),
    ("/reports/budget?optimize=true&total=10000&min=25&max=200",
     ["budget", "--optimize", "--total", "10000", "--min", "25", "--max", "200"]),
    ("/reports/pricing?from=2026-01-01", ["pricing", "--from", "2026-01-01"]),
    ("/reports/survey?round=2026-Q4", ["survey", "report", "--round", "2026-Q4"]),
    ("/reports/feedback-themes?from=2025-01-01&to=2026-12-31",
     ["feedback", "themes", "--from", "2025-01-01", "--to", "2026-12-31"]),
    (f"/reports/targets?at={DAY}", ["target", "--at", DAY]),
    ("/reports/targets?period=2026", ["target", "--period", "2026"]),
    ("/reports/credit?model=w_shaped&from=2026-01-01&pool=100000&split=team_then_credit&team_split=marketing:40,sales:60",
     ["credit", "--model", "w_shaped", "--from", "2026-01-01", "--pool", "100000", "--split", "team_then_credit",
      "--team-split", "marketing:40,sales:60"]),
    ("/reports/credit?by=team", ["credit", "--by", "team"]),
    ("/reports/metrics?from=2026-07-01&to=2026-09-30", ["metrics", "--from", "2026-07-01", "--to", "2026-09-30"]),
    ("/reports/directory?team=marketing", ["directory", "--team", "marketing"]),
    (f"/reports/brief?period=2026-W40&at={DAY}", ["brief", "--period", "2026-W40", "--at", DAY]),
    ("/survey/statements", ["survey", "statements"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    path, config_file = folder / "demo.db", folder / "truce.toml"
    config_file.write_text(truce_config.default_text(), encoding="utf-8")
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=300, seed=3, config=CONFIG)
    add_user(engine, email="vic@yourco.example", team="sales", role="viewer")
    for number, (email, team) in enumerate((("s1@yourco.example", "sales"), ("m1@yourco.example", "marketing"))):
        add_user(engine, email=email, team=team)
        record_response(
            engine, round_name="2026-Q4", respondent_email=email, team=team, role="staff", ratings=[3 + number % 2] * 20
        )
    token = create_token(engine, email="vic@yourco.example")
    with TestClient(create_app(engine, CONFIG), base_url="http://127.0.0.1") as client:
        client.headers["authorization"] = f"Bearer {token}"
        yield client, str(path), str(config_file)
    engine.dispose()


def _cli_json(args: list[str], path: str, config_file: str):
    result = CliRunner().invoke(
        cli, [*args, "--db", path, *(["--config", config_file] if _takes_config(args) else []), "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _takes_config(args: list[str]) -> bool:
    return args[0] not in ("directory", "feedback") and args[:2] != ["survey", "statements"]


@pytest.mark.parametrize(("url", "command"), REPORTS, ids=[url for url, _ in REPORTS])
def test_a_report_answers_what_the_cli_prints(store, url, command):
    client, path, config_file = store
    if command[:2] == ["survey", "statements"]:
        path = None
    response = client.get(f"/api/v1{url}")
    assert response.status_code == 200, response.text
    if path is None:
        result = CliRunner().invoke(cli, [*command, "--json"])
        expected = json.loads(result.stdout)
    else:
        expected = _cli_json(command, path, config_file)
    assert response.json() == expected


def test_money_in_a_report_is_exact_decimal_text(store):
    client, _, _ = store
    credit = client.get("/api/v1/reports/credit?by=team").json()
    assert isinstance(credit["won_revenue"], str) and "." in credit["won_revenue"]


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/reports/funnel?by=colour", "query.by"),
        ("/reports/funnel?from=2026-13-01", "query.from"),
        ("/reports/funnel?from=0", "query.from"),
        ("/reports/funnel?window=0", "query.window"),
        ("/reports/funnel?window=99999999999999999999", "query.window"),
        ("/reports/funnel?bye=channel", "query.bye"),
        ("/reports/sla?at=yesterday", "query.at"),
        ("/reports/sla?at=9999-12-31T23:59:59-23:59", "query.at"),
        ("/reports/attribution?model=magic", "query.model"),
        ("/reports/attribution?lookback=-1", "query.lookback"),
        ("/reports/budget?total=100", "query.total"),
        ("/reports/budget?what_if=paid_search", "query.what_if"),
        ("/reports/budget?optimize=true&bounds=x:9-1", "query.bounds"),
        ("/reports/budget?min=200&max=100", "query.min"),
        ("/reports/budget?optimize=true&total=nan", "query.total"),
        ("/reports/credit?by=team&pool=100", "query.pool"),
        ("/reports/credit?team_split=marketing:lots", "query.team_split"),
        ("/reports/targets?period=2026-Q5", "query.period"),
        ("/reports/brief?period=2026-W60", "query.period"),
        ("/reports/directory?team=finance", "query.team"),
        ("/reports/survey?round=%00", "query.round"),
    ],
)
def test_a_bad_option_is_refused_with_the_path_of_the_parameter(store, url, path):
    client, _, _ = store
    response = client.get(f"/api/v1{url}")
    assert response.status_code == 422, response.text
    assert path in [e["path"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    "url",
    [
        "/reports/funnel?from=2026-06-30&to=2026-01-01",
        "/reports/pricing?from=2026-06-30&to=2026-01-01",
        "/reports/survey?round=1999-Q1",
        "/reports/brief?period=2999",
        "/reports/credit?pool=-5",
        "/reports/sla?at=1990-01-01T00:00:00Z",
    ],
)
def test_a_report_the_data_cannot_give_is_a_400_with_the_reason(store, url):
    client, _, _ = store
    response = client.get(f"/api/v1{url}")
    assert response.status_code == 400, response.text
    assert response.json()["error"]
