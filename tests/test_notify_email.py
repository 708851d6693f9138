"""E-mail notifications reach a real SMTP server on 127.0.0.1: plain text and HTML, the brief attached,
quiet hours kept, digests batched, preferences respected, and a bad password is one clear error."""

from __future__ import annotations

import datetime as dt

import pytest
from notify_servers import add_people, deliveries, email_section, make_config, owe_one, smtp_server

from truce.services.notify.delivery import deliver
from truce.services.notify.inbox import unread_count
from truce.services.notify.preferences import set_preferences
from truce.services.notify.revops import failed, retry

UTC = dt.UTC
# Wednesday 4 March 2026, 10:00 UTC = 11:00 in Berlin (CET): inside business hours (09:00–17:00).
OPEN = dt.datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
# The test server asks for a log-in without TLS; on 127.0.0.1 that is what we want.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _parts(mail):
    return {part.get_content_type(): part for part in mail.walk() if not part.is_multipart()}


def test_it_sends_plain_text_and_html_with_a_link_back(engine):
    people = add_people(engine, "eva@yourco.example")
    with smtp_server() as box:
        config = make_config(email_section(box.port))
        owe_one(engine, "lead_routed", people["eva@yourco.example"], "New MQL: Ada Lovelace", OPEN, link="/handoffs")
        counts = deliver(engine, config, OPEN)
        assert counts["sent"] == 1
        assert len(box.messages) == 1
    mail = box.messages[0]
    assert mail["To"] == "eva@yourco.example" and mail["From"] == "truce@yourco.example"
    assert mail["Subject"] == "New MQL: Ada Lovelace"
    parts = _parts(mail)
    assert "https://truce.yourco.example/handoffs" in parts["text/plain"].get_content()
    assert 'href="https://truce.yourco.example/handoffs"' in parts["text/html"].get_content()
    sent = deliveries(engine, "email")
    assert [(d["status"], d["attempts"], d["sent_at"]) for d in sent] == [("sent", 1, OPEN)]


def test_it_attaches_the_brief_to_the_digest(engine, tmp_path):
    brief = tmp_path / "brief-2026-W10.html"
    brief.write_text("<h1>Joint revenue meeting</h1>", encoding="utf-8")
    people = add_people(engine, "eva@yourco.example")
    with smtp_server() as box:
        config = make_config(email_section(box.port))
        owe_one(
            engine,
            "brief_ready",
            people["eva@yourco.example"],
            "The weekly brief is ready",
            OPEN,
            link="/brief",
            facts={"brief_path": str(brief)},
        )
        deliver(engine, config, OPEN)
        assert box.messages == []  # a digest kind waits for the digest slot
        # The next slot: Thursday 5 March 08:00 in Berlin (CET, UTC+1) = 07:00 UTC.
        deliver(engine, config, dt.datetime(2026, 3, 5, 7, 0, tzinfo=UTC))
        assert len(box.messages) == 1
    attachments = list(box.messages[0].iter_attachments())
    assert [a.get_filename() for a in attachments] == ["brief-2026-W10.html"]
    assert attachments[0].get_content() == "<h1>Joint revenue meeting</h1>"


def test_quiet_hours_hold_an_urgent_email_until_business_hours_open_across_a_clock_change(engine):
    people = add_people(engine, "eva@yourco.example")
    eva = people["eva@yourco.example"]
    # Friday 27 March 2026, 22:00 in Berlin (CET, UTC+1) = 21:00 UTC. Berlin moves to CEST (UTC+2)
    # on Sunday 29 March, so Monday's 09:00 opening is 07:00 UTC, not 08:00.
    late = dt.datetime(2026, 3, 27, 21, 0, tzinfo=UTC)
    monday_opening = dt.datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    with smtp_server() as box:
        config = make_config(email_section(box.port))
        owe_one(engine, "sla_breach", eva, "SLA breach: Ada Lovelace", late)
        deliver(engine, config, late)
        assert box.messages == []
        assert unread_count(engine, eva) == 1  # the inbox does not keep quiet hours
        assert deliveries(engine, "email")[0]["next_attempt_at"] == monday_opening
        deliver(engine, config, monday_opening - dt.timedelta(minutes=1))
        assert box.messages == []
        deliver(engine, config, monday_opening)
        assert [m["Subject"] for m in box.messages] == ["SLA breach: Ada Lovelace"]


def test_digests_batch_each_persons_low_urgency_events_into_one_email(engine):
    people = add_people(engine, "eva@yourco.example", "sam@yourco.example")
    eva, sam = people["eva@yourco.example"], people["sam@yourco.example"]
    with smtp_server() as box:
        config = make_config(email_section(box.port))
        owe_one(engine, "feedback_waiting", eva, "Feedback 12 waits 5 days", OPEN)
        owe_one(engine, "decision_due", eva, "Decision due: pricing floor", OPEN + dt.timedelta(hours=2))
        owe_one(engine, "mql_pace", sam, "MQLs behind pace: 40 of 100", OPEN + dt.timedelta(hours=3))
        deliver(engine, config, OPEN)
        deliver(engine, config, OPEN + dt.timedelta(hours=3))
        assert box.messages == []
        deliver(engine, config, dt.datetime(2026, 3, 5, 7, 0, tzinfo=UTC))  # Thursday 08:00 Berlin
        assert sorted(m["To"] for m in box.messages) == ["eva@yourco.example", "sam@yourco.example"]
    evas = next(m for m in box.messages if m["To"] == "eva@yourco.example")
    assert evas["Subject"] == "truce digest: 2 notifications"
    body = _parts(evas)["text/plain"].get_content()
    assert "Feedback 12 waits 5 days" in body and "Decision due: pricing floor" in body
    assert [d["status"] for d in deliveries(engine, "email")] == ["sent", "sent", "sent"]


def test_it_sends_each_person_only_the_channels_they_chose(engine):
    people = add_people(engine, "eva@yourco.example")
    eva = people["eva@yourco.example"]
    with smtp_server() as box:
        config = make_config(email_section(box.port))
        set_preferences(
            engine,
            config,
            "eva@yourco.example",
            {"lead_routed": ["inbox"], "sla_breach": ["email"]},
            actor="eva@yourco.example",
            origin="cli",
        )
        owe_one(engine, "lead_routed", eva, "New MQL", OPEN)
        owe_one(engine, "sla_breach", eva, "Breach", OPEN)
        deliver(engine, config, OPEN)
        assert [m["Subject"] for m in box.messages] == ["Breach"]
    rows = deliveries(engine)
    assert sorted((r["channel"], r["outbox_id"]) for r in rows) == [("email", 2), ("inbox", 1)]


def test_a_bad_smtp_password_is_one_clear_error_and_burns_no_attempts(engine, monkeypatch):
    people = add_people(engine, "eva@yourco.example", "sam@yourco.example", "kim@yourco.example")
    monkeypatch.setenv("TRUCE_TEST_SMTP_PASSWORD", "wrong-secret-3141")
    with smtp_server(password="right-secret-2718") as box:
        config = make_config(email_section(box.port, "TRUCE_TEST_SMTP_PASSWORD"))
        for address, user_id in people.items():
            owe_one(engine, "sla_breach", user_id, f"Breach for {address}", OPEN)
        counts = deliver(engine, config, OPEN)
        assert counts["channel_errors"] == 1 and counts["sent"] == 0
        # One connection and one log-in (smtplib tries each mechanism the server offers), not one per message.
        assert box.sessions == 1 and box.logins and not any(ok for _, ok in box.logins)
        tried = len(box.logins)
        problems = failed(engine)
        assert [c["name"] for c in problems["broken_channels"]] == ["email"]
        error = problems["broken_channels"][0]["error"]
        assert "535" in error and "TRUCE_TEST_SMTP_PASSWORD" in error
        assert "wrong-secret-3141" not in error and "right-secret-2718" not in error
        assert problems["deliveries"] == []  # no message failed on its own
        assert [(d["status"], d["attempts"]) for d in deliveries(engine, "email")] == [("pending", 0)] * 3

        for minutes in (1, 5, 14):  # the channel rests: no log-in at all
            deliver(engine, config, OPEN + dt.timedelta(minutes=minutes))
        assert box.sessions == 1 and len(box.logins) == tried

        monkeypatch.setenv("TRUCE_TEST_SMTP_PASSWORD", "right-secret-2718")
        retry(engine, actor="revops@yourco.example", origin="cli")
        counts = deliver(engine, config, OPEN + dt.timedelta(minutes=15))
        assert counts["sent"] == 3 and len(box.messages) == 3
        assert box.sessions == 2 and box.logins[tried:] == [("truce", True)]
    assert [(d["status"], d["attempts"]) for d in deliveries(engine, "email")] == [("sent", 1)] * 3
    assert failed(engine)["broken_channels"] == []


def test_no_secret_reaches_an_export(engine, monkeypatch, tmp_path):
    from truce.services.export import export_table

    people = add_people(engine, "eva@yourco.example")
    monkeypatch.setenv("TRUCE_TEST_SMTP_PASSWORD", "wrong-secret-3141")
    with smtp_server(password="right-secret-2718") as box:
        config = make_config(email_section(box.port, "TRUCE_TEST_SMTP_PASSWORD"))
        owe_one(engine, "sla_breach", people["eva@yourco.example"], "Breach", OPEN)
        deliver(engine, config, OPEN)
    for table in ("deliveries", "notify_channels", "notification_preferences", "outbox", "audit_log"):
        path = tmp_path / f"{table}.csv"
        export_table(engine, table, path)
        text = path.read_text(encoding="utf-8")
        assert "secret" not in text, table


@pytest.mark.parametrize("missing", ["TRUCE_TEST_NO_SUCH_VARIABLE"])
def test_a_password_variable_that_is_not_set_is_named_in_the_error(engine, monkeypatch, missing):
    monkeypatch.delenv(missing, raising=False)
    people = add_people(engine, "eva@yourco.example")
    with smtp_server(password="right-secret-2718") as box:
        config = make_config(email_section(box.port, missing))
        owe_one(engine, "sla_breach", people["eva@yourco.example"], "Breach", OPEN)
        deliver(engine, config, OPEN)
    error = failed(engine)["broken_channels"][0]["error"]
    assert f"environment variable {missing}" in error and "not set" in error
