"""Request bodies over the limit are refused with 413 before any route reads or parses them.

Two ways a body arrives: with a Content-Length (refused before a byte is read) and chunked,
without one (counted as it arrives, refused once the count passes the limit). Both are
checked through the app and at the ASGI level, where what was read can be counted.
"""

from __future__ import annotations

import asyncio
import json
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from truce import config as truce_config
from truce.services.logins import add_user, create_token
from truce.web.app import MAX_BODY_BYTES, BodyLimit, create_app

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
LIMIT = 1000
URL = "/api/v1/ingest/touchpoints"


@pytest.fixture
def client(sqlite_engine, tmp_path):
    add_user(sqlite_engine, email="ria@yourco.example", team="revops")
    token = create_token(sqlite_engine, email="ria@yourco.example")
    app = create_app(sqlite_engine, CONFIG, config_path=tmp_path / "truce.toml", max_body_bytes=LIMIT)
    with TestClient(app, base_url="http://127.0.0.1", headers={"authorization": f"Bearer {token}"}) as test_client:
        yield test_client


def _body(size: int) -> bytes:
    """A JSON ingest body of exactly `size` bytes."""
    shell = b'{"items": [], "pad": ""}'
    return shell[:-2] + b"x" * (size - len(shell)) + b'"}'


def test_a_body_declared_over_the_limit_is_refused_with_the_apps_error_shape(client):
    response = client.post(URL, content=_body(LIMIT + 1), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {
        "error": "the request body is larger than 1,000 bytes; send less at a time (split a batch)",
        "errors": [],
    }


def test_a_chunked_body_over_the_limit_is_refused_as_it_arrives(client):
    body = _body(LIMIT + 200)
    chunks = (body[i : i + 300] for i in range(0, len(body), 300))
    response = client.post(URL, content=chunks, headers={"content-type": "application/json"})
    assert response.request.headers.get("content-length") is None  # really chunked
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413 and response.json()["error"].startswith("the request body is larger")


def test_a_body_at_the_limit_reaches_the_route(client):
    body = _body(LIMIT)
    declared = client.post(URL, content=body, headers={"content-type": "application/json"})
    chunked = client.post(URL, content=iter([body[:500], body[500:]]), headers={"content-type": "application/json"})
    for response in (declared, chunked):
        # The route read it: its model refuses the unknown field, with the path.
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["path"] == "body.pad"


def test_forms_are_limited_too(client):
    response = client.post("/login", data={"email": "ria@yourco.example", "password": "x" * LIMIT})
    assert response.status_code == 413


# ---- at the ASGI level: what the app read ----------------------------------------------------------


def _run(limit: int, headers: list[tuple[bytes, bytes]], chunks: list[bytes]):
    """Send `chunks` through BodyLimit to an app that reads the whole body; (status, chunks read, app saw)."""
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    read, sent, seen = [], [], []

    async def receive():
        read.append(pending[len(read)])
        return read[-1]

    async def send(message):
        sent.append(message)

    async def reader(scope, receive, send):
        total = b""
        while True:
            message = await receive()
            total += message["body"]
            if not message["more_body"]:
                break
        seen.append(len(total))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    # A thread of its own: a browser test earlier in this process may have left Playwright's loop running here.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, BodyLimit(reader, limit=limit)(scope, receive, send)).result()
    return sent[0]["status"], len(read), seen


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read():
    status, read, seen = _run(100, [(b"content-length", b"101")], [b"x" * 101])
    assert (status, read, seen) == (413, 0, [])


def test_a_chunked_body_is_refused_at_the_first_chunk_past_the_limit():
    status, read, seen = _run(100, [], [b"x" * 40, b"x" * 40, b"x" * 40, b"x" * 40])
    assert (status, read, seen) == (413, 3, [])  # 40, 80, 120: the third passes 100; the fourth is never read


def test_a_body_within_the_limit_is_passed_on_whole():
    assert _run(100, [], [b"x" * 60, b"x" * 40]) == (200, 2, [100])
    assert _run(100, [(b"content-length", b"100")], [b"x" * 100]) == (200, 1, [100])


def test_a_full_ingest_batch_fits_the_default_limit_four_times_over():
    """10,000 touchpoints with every field filled and realistic lengths, as another system sends them."""
    pick = random.Random(7).choice
    people = ["alexandra.van-der-berg", "oluwaseun.okonkwo-adeyemi", "jean-baptiste.fernandez-garcia", "ann.li"]
    firms = ["acme-logistics", "northwind-traders", "globex-financial", "initech-software"]
    channels = ["paid_search", "paid_social", "webinar", "email", "content_syndication", "sdr_outbound"]
    items = [
        {
            "external_id": f"hubspot-evt-{n:012d}",
            "contact_email": f"{pick(people)}@{pick(firms)}.example",
            "contact_external_id": f"hs-contact-{n * 7919 % 10**9:010d}",
            "campaign_external_id": f"2026-q4-{pick(channels)}-emea-campaign-{n % 997:03d}",
            "channel": pick(channels),
            "kind": pick(["marketing", "sales"]),
            "touch_type": pick(["content_download", "webinar", "form", "demo_request", "meeting"]),
            "occurred_at": f"2026-11-{n % 28 + 1:02d}T{n % 24:02d}:{n % 60:02d}:{n * 7 % 60:02d}+01:00",
            "user_email": f"{pick(people)}@yourco.example",
        }
        for n in range(10_000)
    ]
    compact = json.dumps({"items": items}).encode()
    indented = json.dumps({"items": items}, indent=2).encode()
    assert MAX_BODY_BYTES == 16 * 1024 * 1024
    assert 3_000_000 < len(compact) < len(indented) < MAX_BODY_BYTES / 3.5
    size = str(len(indented)).encode()
    assert _run(MAX_BODY_BYTES, [(b"content-length", size)], [indented]) == (200, 1, [len(indented)])
