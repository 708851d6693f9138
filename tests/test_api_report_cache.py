"""A report read twice is computed once; after a write through any face, a reader either asks for a
fresh answer or is told, by X-Truce-Cache: stale and the revision, that the one shown is older."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app as cli
from truce.services import demo
from truce.services.logins import add_user, create_token
from truce.store import db
from truce.web.app import create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
THEMES = "/api/v1/reports/feedback-themes?from=2025-01-01&to=2026-12-31"


def _client(tmp_path, config):
    path = tmp_path / "demo.db"
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=120, seed=5, config=CONFIG)
    add_user(engine, email="sam@yourco.example", team="sales")
    token = create_token(engine, email="sam@yourco.example")
    test_client = TestClient(create_app(engine, config), base_url="http://127.0.0.1")
    test_client.headers["authorization"] = f"Bearer {token}"
    return test_client, str(path), engine


@pytest.fixture
def client(tmp_path):
    test_client, path, engine = _client(tmp_path, CONFIG)
    with test_client:
        yield test_client, path
    engine.dispose()


@pytest.fixture
def strict_client(tmp_path):
    strict = CONFIG.model_copy(update={"serve": CONFIG.serve.model_copy(update={"report_stale_seconds": 0})})
    test_client, path, engine = _client(tmp_path, strict)
    with test_client:
        yield test_client, path
    engine.dispose()


def _add_feedback(api, kind: str) -> None:
    added = api.post("/api/v1/feedback", json={"text": "Prospects ask for SSO before they sign", "kind": kind})
    assert added.status_code == 201, added.text


def test_a_report_read_twice_is_computed_once(client):
    api, _ = client
    first, second = api.get(THEMES), api.get(THEMES)
    assert (first.headers["x-truce-cache"], second.headers["x-truce-cache"]) == ("miss", "hit")
    assert first.content == second.content
    assert first.headers["content-type"] == "application/json"


def test_other_options_are_another_report(client):
    api, _ = client
    api.get(THEMES)
    other = api.get("/api/v1/reports/feedback-themes?from=2026-01-01&to=2026-12-31")
    assert other.headers["x-truce-cache"] == "miss"


def test_after_a_write_a_reader_sees_the_last_answer_marked_stale_until_it_is_refreshed(client):
    api, _ = client
    before = api.get(THEMES)
    _add_feedback(api, "product_gap")
    lagging = api.get(THEMES)
    assert lagging.headers["x-truce-cache"] == "stale"
    assert lagging.content == before.content
    assert lagging.headers["x-truce-revision"] == before.headers["x-truce-revision"]
    deadline = time.monotonic() + 20
    while (current := api.get(THEMES)).headers["x-truce-cache"] != "hit" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert current.headers["x-truce-cache"] == "hit"
    assert current.headers["x-truce-revision"] != before.headers["x-truce-revision"]
    assert current.json()["counts"]["product_gap"] == before.json()["counts"]["product_gap"] + 1


def test_a_write_through_the_api_shows_in_a_read_that_asks_for_no_cache(client):
    api, _ = client
    before = api.get(THEMES).json()
    _add_feedback(api, "product_gap")
    after = api.get(THEMES, headers={"cache-control": "no-cache"})
    assert after.headers["x-truce-cache"] == "miss"
    assert after.json()["items_in_period"] == before["items_in_period"] + 1
    assert after.json()["counts"]["product_gap"] == before["counts"]["product_gap"] + 1


def test_with_no_stale_answers_allowed_the_next_read_shows_the_write(strict_client):
    api, _ = strict_client
    before = api.get(THEMES).json()
    _add_feedback(api, "messaging")
    after = api.get(THEMES)
    assert after.headers["x-truce-cache"] == "miss"
    assert after.json()["counts"]["messaging"] == before["counts"]["messaging"] + 1


def test_a_write_from_the_cli_in_another_process_shows_too(strict_client):
    # Another process writes the same store: the app learns of it from the audit trail.
    api, path = strict_client
    before = api.get(THEMES).json()
    result = CliRunner().invoke(
        cli, ["feedback", "add", "Lost to a cheaper rival on price", "--kind", "pricing", "--as", "sam@yourco.example",
              "--db", path],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    after = api.get(THEMES)
    assert after.headers["x-truce-cache"] == "miss"
    assert after.json()["counts"]["pricing"] == before["counts"]["pricing"] + 1


def test_no_cache_asks_for_a_fresh_computation(client):
    api, _ = client
    api.get(THEMES)
    assert api.get(THEMES, headers={"cache-control": "no-cache"}).headers["x-truce-cache"] == "miss"


def test_a_refused_report_is_not_kept(client):
    api, _ = client
    for _ in range(2):
        refused = api.get("/api/v1/reports/targets?period=2026-Q5")
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["path"] == "query.period"
