"""`truce connect salesforce` and `truce sync salesforce --json` against the fake org, as a RevOps lead runs them.

Relies on the same documented token answer and queryAll shapes as test_connector_salesforce_sync.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.fakes.salesforce import TOML, FakeSalesforce, serving, small_org
from truce.cli import app

runner = CliRunner()


@pytest.fixture
def org():
    fake = FakeSalesforce()
    with serving(fake):
        yield fake


def test_it_connects_and_syncs_from_the_command_line(database_url, org, tmp_path, monkeypatch):
    small_org(org)
    toml = tmp_path / "truce.toml"
    toml.write_text(TOML)
    monkeypatch.setenv("SF_SECRET", org.client_secret)
    common = ["--db", database_url, "--config", str(toml)]
    made = runner.invoke(app, ["connect", "salesforce", "--base-url", org.url, "--client-id", org.client_id,
                               "--login-url", org.login_url, "--token-env", "SF_SECRET", "--json", *common])  # fmt: skip
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["secret"] == "environment variable SF_SECRET"
    synced = runner.invoke(app, ["sync", "salesforce", "--json", *common])
    assert synced.exit_code == 0, synced.output
    report = json.loads(synced.output)
    # 2 users, 1 account, 1 contact, 2 leads, 1 campaign, 1 deal, 1 member, 1 call, 1 meeting, 1 stage move.
    assert report["status"] == "ok" and report["totals"]["inserted"] == 12 and report["reject_count"] == 0
    assert org.client_secret not in synced.output + made.output
    again = json.loads(runner.invoke(app, ["sync", "salesforce", "--json", *common]).output)
    assert again["totals"]["read"] == 0


def test_a_revoked_credential_ends_the_command_with_one_clear_line(database_url, org, tmp_path, monkeypatch):
    monkeypatch.setenv("SF_SECRET", org.client_secret)
    common = ["--db", database_url]
    runner.invoke(app, ["connect", "salesforce", "--base-url", org.url, "--client-id", org.client_id,
                        "--login-url", org.login_url, "--token-env", "SF_SECRET", *common])  # fmt: skip
    org.revoke()
    stopped = runner.invoke(app, ["sync", "salesforce", "--json", *common])
    assert stopped.exit_code == 1
    assert "invalid_grant" in stopped.output and "truce connect" in stopped.output
