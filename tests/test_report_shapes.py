"""Every report keeps the JSON shape it had before the typed report models: the same keys, the
same kinds of values, through the API and through the CLI's --json.

tests/fixtures/report_shapes.json holds the shapes taken from the API and the CLI on this
demo before truce.reports.models existed (keys and value kinds only, not the numbers). A
report that changes its shape on purpose changes that file in the same commit, and says so.
A key added is backward compatible and passes (readers ignore keys they do not know); a key
gone, or a value of another kind, breaks a reader and fails.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_json_scene import TOKEN_ENV, play, store_options
from fastapi.testclient import TestClient
from report_shapes import differences, shape
from test_api_reports import CONFIG, REPORTS, _takes_config
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app as cli
from truce.services import demo
from truce.services.logins import add_user, create_token
from truce.services.survey import record_response
from truce.store import db
from truce.web.app import create_app

BEFORE = json.loads((Path(__file__).parent / "fixtures" / "report_shapes.json").read_text())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # The demo of tests/test_api_reports.py, built the same way: the snapshot was taken on it.
    folder = tmp_path_factory.mktemp("shapes")
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


@pytest.mark.parametrize(("url", "command"), REPORTS, ids=[url for url, _ in REPORTS])
def test_it_keeps_each_reports_json_shape_in_the_api_and_the_cli(store, url, command):
    client, path, config_file = store
    response = client.get(f"/api/v1{url}")
    assert response.status_code == 200, response.text
    assert breaking(BEFORE[f"GET {url}"], shape(response.json())) == []
    if command[:2] == ["survey", "statements"]:
        args = [*command, "--json"]
    else:
        args = [*command, "--db", path, *(["--config", config_file] if _takes_config(command) else []), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert breaking(BEFORE[" ".join(["truce", *command])], shape(json.loads(result.stdout))) == []


def test_it_keeps_the_json_shape_of_every_command_through_a_working_day(store, tmp_path, monkeypatch):
    # The commands that are not report routes (the queue, a decision, a token, a plan, ...), on a
    # copy of the demo because they write; the snapshot was taken before their models existed.
    _, path, config_file = store
    monkeypatch.setenv(TOKEN_ENV, "not-a-real-token")
    copy = tmp_path / "day.db"
    with sqlite3.connect(path) as demo_store, sqlite3.connect(copy) as day:
        demo_store.backup(day)  # not a file copy: the demo's last writes may still be in its WAL

    def run(args):
        result = CliRunner().invoke(cli, [*args, *store_options(cli, args, f"sqlite:///{copy}", config_file)])
        assert result.exit_code == 0, f"truce {' '.join(args)}: {result.output}"
        return json.loads(result.stdout) if store_options(cli, args, "", "")[-1:] == ["--json"] else None

    def unown(email):
        with sqlite3.connect(copy) as conn:
            conn.execute(
                "UPDATE handoffs SET owner_id = NULL WHERE status = 'open'"
                " AND contact_id = (SELECT id FROM contacts WHERE email = ?)",
                (email,),
            )

    def free_deal(seller):
        with sqlite3.connect(copy) as conn:
            return conn.execute(
                "SELECT o.id FROM opportunities o JOIN users u ON u.id = o.owner_id WHERE u.email = ?"
                " AND o.status = 'open' AND o.id NOT IN (SELECT opportunity_id FROM discount_approvals)"
                " ORDER BY o.id LIMIT 1",
                (seller,),
            ).fetchone()[0]

    seen = []
    for label, data in play(run, unown, tmp_path, free_deal):
        assert label in BEFORE, f"{label}: no snapshot; take one before giving it a model"
        assert (label, breaking(BEFORE[label], shape(data))) == (label, [])
        seen.append(label)
    assert len(seen) == 55  # every step printed JSON and was compared


def breaking(before, after) -> list[str]:
    return [found for found in differences(before, after) if not found.endswith(": new")]


def test_it_notices_a_key_gone_a_key_added_and_a_number_turned_text():
    before = shape({"rows": [{"revenue": 1.5, "label": None}], "model": "linear"})
    after = shape({"rows": [{"revenue": "1.5", "share": 0.5}], "model": "linear"})
    assert differences(before, after) == [
        "$.rows[].label: gone",
        "$.rows[].share: new",
        "$.rows[].revenue: was number, now string",
    ]


def test_it_documents_each_reports_model_in_the_openapi_document(store):
    client, _, _ = store
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    answer = paths["/api/v1/reports/attribution"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/AttributionReport"}
    models = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["AttributionReport"]
    assert models["properties"]["model"]["enum"][:2] == ["first_touch", "last_touch"]
    assert {"from", "to", "credits", "total_revenue"} <= set(models["properties"])


def test_every_json_the_cli_prints_goes_through_a_report_model():
    # One encoder and one shape per answer: a print_json without its model would print an unchecked dict.
    root = Path(__file__).parent.parent / "src" / "truce" / "cli"
    untyped = [
        f"{path.name}:{number}"
        for path in sorted(root.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "print_json(" in line and "def print_json" not in line and "report=" not in line
    ]
    assert untyped == []


def test_the_demo_and_config_check_answer_with_their_models(tmp_path):
    from typer.testing import CliRunner

    from truce.cli import app
    from truce.reports.models import ConfigChecked, DemoBuilt

    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    built = runner.invoke(app, ["demo", "--contacts", "300", "--seed", "3", "--db", url, "--json"])
    assert built.exit_code == 0, built.output
    answer = json.loads(built.output)
    assert DemoBuilt.model_validate(answer).tables["contacts"] == 300
    assert "logins" not in answer  # only with --serve
    checked = json.loads(runner.invoke(app, ["config", "check", "--json"]).output)
    assert ConfigChecked.model_validate(checked).valid is True
    assert checked["sla"]["sales"]["first_touch_hours"] == 4  # the default truce.toml's
