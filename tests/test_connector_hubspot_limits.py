"""HubSpot's limits and failures: 429 with and without Retry-After, a page that fails once, the
burst allowance in the limit headers, the search pace, and a revoked token.

Documented behaviour relied on (HubSpot API reference, "API usage guidelines and limits"): 429
answers with `errorType: RATE_LIMIT` (Retry-After may be absent); non-search answers carry
`X-HubSpot-RateLimit-Remaining` and `X-HubSpot-RateLimit-Interval-Milliseconds`; the search
endpoints send no limit headers and allow a few requests a second per token; a private-app token
that was revoked answers 401 `INVALID_AUTHENTICATION`.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from tests.fakes.hubspot import FakeHubSpot, connect, connector, hubspot_config, running, small_crm
from truce.services.connectors.errors import CredentialRevoked
from truce.services.connectors.hubspot.api import SearchPace
from truce.services.connectors.sync import sync
from truce.store.models import Contact, CrmConnection, CrmSyncRun


@pytest.fixture
def config(default_config):
    return hubspot_config(default_config)


@pytest.fixture
def hub():
    crm = FakeHubSpot(records=small_crm())
    crm.remaining = 150  # plenty left: no pauses but the ones a test asks for
    with running(crm) as url:
        crm.url = url
        yield crm


@pytest.fixture
def store(engine, config, hub, monkeypatch):
    connect(engine, config, hub.url, monkeypatch)
    return engine


def people(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(Contact.hubspot_id)).scalars())


def test_a_429_with_retry_after_waits_as_long_as_it_says(store, config, hub):
    hub.fail(429, times=1, path="/crm/v3/objects/contacts/search", retry_after="7")
    waits: list[float] = []
    report = sync(store, config, "hubspot", connector=connector(store, config, waits))
    assert report.status == "ok" and waits == [7.0]
    assert people(store) == ["301", "302"]


def test_a_429_without_retry_after_backs_off_doubling(store, config, hub):
    hub.fail(429, times=3, path="/crm/v3/objects/deals/search")
    waits: list[float] = []
    sync(store, config, "hubspot", connector=connector(store, config, waits))
    assert waits == [0.5, 1.0, 2.0], "first_wait 0.5 s, doubled each time"
    assert len(hub.calls("POST", "/crm/v3/objects/deals/search")) == 4  # three refused, one answered


def test_a_page_that_fails_once_is_asked_for_again(store, config, hub):
    hub.fail(503, times=1, path="/crm/v4/associations/contacts/companies")
    waits: list[float] = []
    report = sync(store, config, "hubspot", connector=connector(store, config, waits))
    assert report.status == "ok" and waits == [0.5]
    with store.connect() as conn:
        assert conn.execute(select(Contact.account_id).where(Contact.hubspot_id == "301")).scalar_one() is not None


def test_an_allowance_nearly_spent_pauses_one_interval(store, config, hub):
    hub.remaining = 1
    waits: list[float] = []
    sync(store, config, "hubspot", only=["owners"], connector=connector(store, config, waits))
    # Owners are two listings (active, archived); each answer said 1 left of the 10-second interval.
    assert waits == [10.0, 10.0]


def test_searches_are_paced_to_the_search_limit():
    clock = iter([0.0, 0.1, 0.2, 0.3, 0.35, 2.0]).__next__
    pace = SearchPace(4, clock=clock)
    search = httpx.Response(200, request=httpx.Request("POST", "http://h/crm/v3/objects/contacts/search"))
    pauses = [pace(search) for _ in range(6)]
    # The fourth search within one second waits out the rest of it (1 - 0.3 = 0.7 s); the count restarts.
    assert [round(p, 2) for p in pauses] == [0, 0, 0, 0.7, 0, 0]


def test_a_revoked_token_stops_the_sync_with_a_clear_message(store, config, hub):
    hub.revoke()
    with pytest.raises(CredentialRevoked) as stopped:
        sync(store, config, "hubspot", connector=connector(store, config))
    message = str(stopped.value)
    assert "HubSpot refused truce's credential: 401" in message and "INVALID_AUTHENTICATION" in message
    assert "truce connect" in message and "pat-na1-test-token" not in message
    with store.connect() as conn:
        run = conn.execute(select(CrmSyncRun.status, CrmSyncRun.error)).one()
        last_error = conn.execute(select(CrmConnection.last_error)).scalar_one()
    assert run.status == "stopped" and run.error == message == last_error
    assert len(hub.requests) == 1, "no retries on a refused credential"
