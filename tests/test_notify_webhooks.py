"""Webhooks reach a real HTTP receiver on 127.0.0.1: Slack and Teams shapes, a signature the receiver
checks, retries with backoff worked out by hand, dead letters, and a refused connection as one error."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from notify_servers import add_people, as_json, deliveries, free_port, http_receiver, make_config, owe_one

from truce.services.notify.delivery import deliver
from truce.services.notify.revops import failed, retry

UTC = dt.UTC
OPEN = dt.datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # Wednesday, 11:00 in Berlin: business hours
BASE = '[notify]\nbase_url = "https://truce.yourco.example"\n'


def _hook(name: str, shape: str, url: str, extra: str = "") -> str:
    return f'[[notify.webhooks]]\nname = "{name}"\nshape = "{shape}"\nurl = "{url}"\n{extra}'


def test_a_signed_webhook_carries_a_signature_the_receiver_can_check(engine, monkeypatch):
    secret = "hook-secret-5772"
    monkeypatch.setenv("TRUCE_TEST_HOOK_SECRET", secret)
    with http_receiver() as receiver:
        config = make_config(
            BASE + _hook("tools", "signed", receiver.url + "/in", 'secret_env = "TRUCE_TEST_HOOK_SECRET"\n')
        )
        owe_one(engine, "mql_pace", None, "MQLs behind pace", OPEN, link="/sla", facts={"mqls": 40, "promised": 100})
        deliver(engine, config, OPEN)
    [request] = receiver.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    timestamp = headers["x-truce-timestamp"]
    assert timestamp == str(int(OPEN.timestamp())) == "1772618400"
    # Checked here the way a receiver would: HMAC-SHA256 of "<timestamp>.<raw body>" under the secret.
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert headers["x-truce-signature"] == f"sha256={expected}"
    body = as_json(request["body"])
    assert body["kind"] == "mql_pace" and body["link"] == "https://truce.yourco.example/sla"
    assert body["facts"] == {"mqls": 40, "promised": 100}
    assert secret not in request["body"].decode()


def test_slack_and_teams_get_the_shapes_their_incoming_webhooks_accept(engine):
    with http_receiver() as receiver:
        hooks = _hook("slack", "slack", receiver.url + "/slack") + _hook("teams", "teams", receiver.url + "/teams")
        config = make_config(BASE + hooks)
        owe_one(
            engine,
            "sla_breach",
            None,
            "SLA breach: 3 leads",
            OPEN,
            link="/sla",
            text="Three leads passed their deadline.",
        )
        deliver(engine, config, OPEN)
    by_path = {r["path"]: as_json(r["body"]) for r in receiver.requests}
    slack, teams = by_path["/slack"], by_path["/teams"]
    assert "SLA breach: 3 leads" in slack["text"] and "https://truce.yourco.example/sla" in slack["text"]
    assert slack["blocks"][0]["type"] == "section"
    assert slack["blocks"][1]["elements"][0]["url"] == "https://truce.yourco.example/sla"
    assert teams["@type"] == "MessageCard" and teams["title"] == "SLA breach: 3 leads"
    assert teams["potentialAction"][0]["targets"][0]["uri"] == "https://truce.yourco.example/sla"


def test_a_receiver_that_fails_twice_gets_the_message_on_the_third_try_after_backoff(engine):
    # backoff_seconds = 60: the first failure waits 60 s, the second 120 s (60 × 2).
    retries = "[notify.retries]\nbackoff_seconds = 60\nmax_attempts = 5\n"
    with http_receiver(failures=2) as receiver:
        config = make_config(BASE + retries + _hook("tools", "slack", receiver.url))
        owe_one(engine, "sla_breach", None, "Breach", OPEN)
        deliver(engine, config, OPEN)
        [row] = deliveries(engine, "webhook")
        assert (row["status"], row["attempts"], row["next_attempt_at"]) == (
            "failed",
            1,
            OPEN + dt.timedelta(seconds=60),
        )
        assert "answered 500" in row["last_error"]

        deliver(engine, config, OPEN + dt.timedelta(seconds=59))  # not due yet
        assert len(receiver.requests) == 1

        deliver(engine, config, OPEN + dt.timedelta(seconds=60))
        [row] = deliveries(engine, "webhook")
        assert (row["status"], row["attempts"], row["next_attempt_at"]) == (
            "failed",
            2,
            OPEN + dt.timedelta(seconds=180),
        )

        deliver(engine, config, OPEN + dt.timedelta(seconds=180))
        [row] = deliveries(engine, "webhook")
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 3, OPEN + dt.timedelta(seconds=180))
    assert len(receiver.requests) == 3


def test_it_gives_up_after_the_last_attempt_and_revops_can_retry(engine):
    retries = "[notify.retries]\nbackoff_seconds = 10\nmax_attempts = 2\n"
    with http_receiver(failures=2) as receiver:
        config = make_config(BASE + retries + _hook("tools", "slack", receiver.url))
        owe_one(engine, "sla_breach", None, "Breach", OPEN)
        deliver(engine, config, OPEN)
        deliver(engine, config, OPEN + dt.timedelta(seconds=10))
        [row] = deliveries(engine, "webhook")
        assert (row["status"], row["attempts"]) == ("dead", 2)
        assert [d["id"] for d in failed(engine)["deliveries"]] == [row["id"]]
        deliver(engine, config, OPEN + dt.timedelta(hours=1))
        assert len(receiver.requests) == 2  # dead stays dead

        later = OPEN + dt.timedelta(hours=2)
        assert retry(engine, row["id"], actor="revops@yourco.example", origin="cli", now=later)["retried"] == 1
        deliver(engine, config, later)
    [row] = deliveries(engine, "webhook")
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert failed(engine)["deliveries"] == []


def test_a_refused_connection_rests_the_webhook_with_one_error(engine):
    closed = f"http://127.0.0.1:{free_port()}/nobody-listens"
    config = make_config(BASE + _hook("tools", "signed", closed, 'secret_env = "HOME"\n'))
    for n in range(4):
        owe_one(engine, "sla_breach", None, f"Breach {n}", OPEN)
    counts = deliver(engine, config, OPEN)
    assert counts["channel_errors"] == 1 and counts["failed"] == 0
    problems = failed(engine)
    assert [c["name"] for c in problems["broken_channels"]] == ["webhook:tools"]
    assert "nobody-listens" not in problems["broken_channels"][0]["error"]  # the URL may hold a token
    assert [(d["status"], d["attempts"]) for d in deliveries(engine, "webhook")] == [("pending", 0)] * 4


def test_webhooks_get_the_kinds_they_asked_for_and_personal_messages_only_when_they_want_them(engine):
    people = add_people(engine, "eva@yourco.example")
    with http_receiver() as receiver:
        hooks = _hook("breaches", "slack", receiver.url + "/breaches", 'kinds = ["sla_breach"]\n')
        hooks += _hook("everything", "slack", receiver.url + "/everything", "people = true\n")
        config = make_config(BASE + hooks)
        owe_one(engine, "sla_breach", None, "Team breach", OPEN)
        owe_one(engine, "mql_pace", None, "Pace", OPEN)
        owe_one(engine, "lead_routed", people["eva@yourco.example"], "Lead for Eva", OPEN)
        deliver(engine, config, OPEN)
    seen = sorted((r["path"], as_json(r["body"])["text"].split("*")[1]) for r in receiver.requests)
    assert seen == [
        ("/breaches", "Team breach"),
        ("/everything", "Lead for Eva"),
        ("/everything", "Pace"),
        ("/everything", "Team breach"),
    ]
