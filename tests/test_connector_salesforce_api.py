"""Signing in, limits and errors, and write-back against the fake Salesforce org.

Documented behaviour relied on: the OAuth token endpoint's answer (`access_token`, `instance_url`,
`token_type`) and refusals (400 `invalid_grant` / `invalid_client`); the JWT bearer assertion's
claims (iss, sub, aud, exp ≤ 3 minutes, RS256); 401 `INVALID_SESSION_ID` for an expired session;
429/503 with or without `Retry-After`; 403 `REQUEST_LIMIT_EXCEEDED`; `Sforce-Limit-Info:
api-usage=used/limit`; PATCH sobjects/{Object}/{Id} answering 204, or 412 under `If-Unmodified-Since`.
"""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from tests.fakes.salesforce import TOML, FakeSalesforce, Killed, connect, connector, run, serving, small_org
from truce import config as truce_config
from truce.services.connectors import connections
from truce.services.connectors.errors import CredentialRevoked, RateLimited
from truce.services.connectors.salesforce import SalesforceConnector
from truce.services.connectors.salesforce.api import pace
from truce.services.connectors.sync import sync
from truce.store.models import AuditEntry, CrmSyncRun

UTC = dt.UTC


@pytest.fixture(scope="module")
def config():
    return truce_config.parse(TOML, "truce.toml")


@pytest.fixture
def org():
    fake = FakeSalesforce()
    with serving(fake):
        yield fake


@pytest.fixture
def ids(org):
    return small_org(org)


@pytest.fixture
def connected(engine, config, org, monkeypatch):
    return connect(engine, config, org, monkeypatch)


def _keys():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()  # fmt: skip
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip
    return private, public


def _jwt_connection(engine, config, fake, monkeypatch, private_pem):
    monkeypatch.setenv("SF_KEY_PEM", private_pem)
    connections.connect(
        engine, config,
        connections.Request("salesforce", auth="jwt_bearer", base_url=fake.url, secret_env="SF_KEY_PEM",
                            settings={"client_id": fake.client_id, "username": fake.username, "login_url": fake.login_url}),
        actor="revops@acme.example",
    )  # fmt: skip


def test_the_jwt_bearer_flow_signs_in_with_the_claims_salesforce_checks(engine, config, monkeypatch):
    private, public = _keys()
    fake = FakeSalesforce(public_key=public)
    with serving(fake):
        small_org(fake)
        _jwt_connection(engine, config, fake, monkeypatch, private)
        before = dt.datetime.now(UTC).timestamp()
        report = run(engine, config)
        assert report.status == "ok" and report.totals()["inserted"] > 0
        claims = fake.jwt_claims[0]  # verified by the fake with the public key, RS256
        assert (claims["iss"], claims["sub"], claims["aud"]) == (fake.client_id, fake.username, fake.login_url)
        assert 0 < claims["exp"] - before <= 181


def test_a_jwt_signed_with_another_key_is_refused_with_a_clear_message(engine, config, monkeypatch):
    _, public = _keys()
    other, _ = _keys()
    fake = FakeSalesforce(public_key=public)
    with serving(fake):
        _jwt_connection(engine, config, fake, monkeypatch, other)
        with pytest.raises(CredentialRevoked, match="invalid_grant.*truce connect"):
            run(engine, config)


def test_calls_go_to_the_instance_the_token_names_and_the_connection_remembers_it(engine, config, monkeypatch):
    fake = FakeSalesforce()
    with serving(fake, instance_host="localhost"):
        small_org(fake)
        monkeypatch.setenv("SF_SECRET", fake.client_secret)
        connections.connect(engine, config, connections.Request("salesforce", base_url=fake.url, secret_env="SF_SECRET",
                            settings={"client_id": fake.client_id, "login_url": fake.login_url}), actor="x")  # fmt: skip
        run(engine, config)
        assert connections.get(engine, "salesforce").base_url == fake.instance_url != fake.url
        with engine.connect() as conn:
            moved = conn.execute(select(AuditEntry.after).where(AuditEntry.action == "crm_instance_moved")).scalar_one()
        assert fake.instance_url in str(moved)


def test_an_expired_session_signs_in_again_once_and_the_sync_goes_on(connected, config, org, ids):
    class Expiring(Killed):
        def pages(self, obj, cursor, position, full):
            for page in SalesforceConnector.pages(self, obj, cursor, position, full):
                if obj.name == "Account":
                    org.expire_sessions()  # the session dies between two calls
                yield page

    crm = Expiring(connections.get(connected, "salesforce"), config, connected, pages=0, sleep=lambda s: None)
    report = sync(connected, config, "salesforce", connector=crm)
    assert report.status == "ok" and report.rejects == []
    assert org.sign_ins == 2 and crm.session.sign_ins == 2


def test_a_revoked_credential_stops_the_sync_with_a_clear_message(connected, config, org, ids):
    run(connected, config)
    org.revoke()
    with pytest.raises(CredentialRevoked) as stopped:
        run(connected, config)
    assert "invalid_grant" in str(stopped.value) and "truce connect" in str(stopped.value)
    with connected.connect() as conn:
        last = conn.execute(select(CrmSyncRun).order_by(CrmSyncRun.id.desc()).limit(1)).one()
    assert last.status == "stopped" and "invalid_grant" in last.error
    assert "invalid_grant" in connections.get(connected, "salesforce").last_error


def test_429_with_retry_after_waits_as_told_and_without_it_backs_off(connected, config, org, ids):
    org.throttle(1, retry_after="7")
    told = connector(connected, config)
    sync(connected, config, "salesforce", connector=told)
    assert told.http.waits == [7.0]
    org.update("Contact", ids["carl"], Title="CEO")
    org.throttle(2)
    guessed = connector(connected, config)
    sync(connected, config, "salesforce", connector=guessed)
    assert guessed.http.waits == [0.5, 1.0], "doubling from CrmHttp's first wait"


def test_a_batch_that_fails_once_is_asked_again(connected, config, org, ids):
    for i in range(3):
        org.add("Contact", Email=f"p{i}@acme.example", LastName=f"P{i}")
    org.fail_next_batches(1)
    crm = connector(connected, config)
    report = sync(connected, config, "salesforce", connector=crm)
    assert crm.http.waits == [0.5] and report.objects["Contact"]["inserted"] == 4


def test_429_past_the_attempts_allowed_stops_with_rate_limited(connected, config, org, ids):
    org.throttle(6)
    with pytest.raises(RateLimited, match="6 attempts"):
        run(connected, config)


def test_a_spent_daily_allocation_stops_at_once_with_what_to_do(connected, config, org, ids):
    org.spend_limit()
    crm = connector(connected, config)
    with pytest.raises(RateLimited, match="daily API allocation.*REQUEST_LIMIT_EXCEEDED"):
        sync(connected, config, "salesforce", connector=crm)
    assert crm.http.waits == [], "no backoff: the allocation is per 24 hours"


def test_near_the_daily_allocation_it_slows_down(connected, config, org, ids):
    org.api_used = 13_600  # of 15,000: 90.7 %, then more with every call
    crm = connector(connected, config)
    sync(connected, config, "salesforce", connector=crm)
    assert crm.http.waits and set(crm.http.waits) == {1.0}


def test_the_pace_follows_the_share_of_the_allocation_used():
    import httpx

    def answer(used):
        return httpx.Response(200, headers={"Sforce-Limit-Info": f"api-usage={used}/1000"})

    assert [pace(answer(u)) for u in (10, 899, 900, 950, 980, 1000)] == [0.0, 0.0, 1.0, 3.0, 10.0, 10.0]
    assert pace(httpx.Response(200)) == 0.0


def _read_at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_decision_is_written_back_in_salesforce_fields(connected, config, org, ids):
    run(connected, config)
    crm = connector(connected, config)
    read_at = _read_at("2026-12-01T09:30:00")
    result = crm.write_back("Lead", ids["lena"], {"handoff_status": "rejected", "rejection_reason": "no_budget",
                            "owner": "ann@acme.example", "mql_score": "72", "score_link": "https://truce.example/s/1",
                            "sla_breach": "true"}, read_at, context={"decided_stage": "recycled"})  # fmt: skip
    assert result.status == "sent"
    assert org.patches == [{
        "object": "Lead", "id": ids["lena"],
        # no_budget exits to recycled; TOML maps "Recycled" (as truce's default mapping does) to recycled.
        "body": {"Status": "Recycled", "Truce_Rejection_Reason__c": "no_budget", "OwnerId": ids["ann"],
                 "Truce_MQL_Score__c": 72, "Truce_Score_Link__c": "https://truce.example/s/1", "Truce_SLA_Breach__c": True},
        "if_unmodified_since": "Tue, 01 Dec 2026 09:30:00 GMT",
    }]  # fmt: skip
    assert org.record("Lead", ids["lena"])["Truce_Rejection_Reason__c"] == "no_budget"


def test_a_record_changed_after_truce_read_it_is_not_overwritten(connected, config, org, ids):
    org.update("Lead", ids["lena"], at="2026-12-01T09:45:00.000+0000", Title="Changed by a seller")
    crm = connector(connected, config)
    result = crm.write_back("Lead", ids["lena"], {"handoff_status": "accepted"}, _read_at("2026-12-01T09:30:00"))
    assert result.status == "conflict" and "not overwritten" in result.detail
    assert org.patches == [] and org.record("Lead", ids["lena"])["Status"] == "Raw - New"
    assert email.utils.parsedate_to_datetime("Tue, 01 Dec 2026 09:30:00 GMT") < _read_at("2026-12-01T09:45:00")


def test_field_names_follow_the_config_and_unmapped_values_are_left_out_and_said(engine, org, ids, monkeypatch):
    custom = truce_config.parse(
        TOML + '\n[connectors.salesforce.write_back]\nfields = { mql_score = "Lead_Score__c" }\n'
    )
    connect(engine, custom, org, monkeypatch)
    crm = connector(engine, custom)
    sent = crm.write_back("Lead", ids["otto"], {"mql_score": "80.5", "lifecycle_stage": "customer",
                                                "owner": "nobody@acme.example"}, None)  # fmt: skip
    assert sent.status == "sent" and "customer" in sent.detail and "nobody@acme.example" in sent.detail
    assert org.patches[-1]["body"] == {"Lead_Score__c": 80.5} and org.patches[-1]["if_unmodified_since"] is None
    accepted = crm.write_back(
        "Lead", ids["otto"], {"handoff_status": "accepted", "lifecycle_stage": "disqualified"}, None
    )
    assert accepted.status == "sent"
    assert org.patches[-1]["body"] == {"Status": "Closed - Not Converted"}, "the stage is more exact than the decision"
    skipped = crm.write_back("Lead", ids["otto"], {"lifecycle_stage": "customer"}, None)
    assert skipped.status == "skipped" and len(org.patches) == 2
