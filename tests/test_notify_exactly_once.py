"""A worker killed between sending a message and recording it: after restart the message goes at most
once more, and the delivery row says so (attempts 2). Two workers never both send one message.

The kill is real: a child process runs a delivery round and SIGKILLs itself the moment the SMTP
server has accepted the message, before the unit of work that records it (docs/notifications.md,
"Exactly once, at least once").
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from notify_servers import add_people, deliveries, email_section, make_config, owe_one, smtp_server

from truce.services.notify import delivery
from truce.services.notify.delivery import claim, deliver

UTC = dt.UTC
OPEN = dt.datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # Wednesday, 11:00 in Berlin
CLAIM = dt.timedelta(seconds=300)  # [notify.retries] claim_seconds, the default

CHILD = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    from truce import config as truce_config
    from truce.store import db
    from truce.services.notify import delivery

    def die(*args, **kwargs):  # sent, not yet recorded: the process dies here
        os.kill(os.getpid(), signal.SIGKILL)

    delivery.record_sent = die
    engine = db.connect(sys.argv[1])
    config = truce_config.load(sys.argv[2])
    delivery.deliver(engine, config, dt.datetime.fromisoformat(sys.argv[3]), worker="doomed")
    """
)


def _config_file(tmp_path: Path, port: int) -> Path:
    """The same config as make_config gives, as a file the child process loads."""
    from truce import config as truce_config

    path = tmp_path / "truce.toml"
    text = truce_config.default_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"', 1)
    path.write_text(text + "\n" + email_section(port), encoding="utf-8")
    return path


def test_a_worker_killed_after_sending_resends_at_most_once_and_records_two_attempts(engine, tmp_path):
    people = add_people(engine, "eva@yourco.example")
    with smtp_server() as box:
        config = make_config(email_section(box.port))
        owe_one(engine, "sla_breach", people["eva@yourco.example"], "Breach", OPEN)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                engine.url.render_as_string(hide_password=False),
                str(_config_file(tmp_path, box.port)),
                OPEN.isoformat(),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert child.returncode == -signal.SIGKILL, child.stderr
        assert len(box.messages) == 1
        [row] = deliveries(engine, "email")
        assert (row["status"], row["attempts"], row["claimed_by"]) == ("sending", 1, "doomed")

        # Restarted within the dead worker's claim: nobody sends it again yet.
        deliver(engine, config, OPEN + CLAIM - dt.timedelta(seconds=1))
        assert len(box.messages) == 1

        # Once the claim runs out, the next round sends it again — once — and records it.
        deliver(engine, config, OPEN + CLAIM)
        deliver(engine, config, OPEN + CLAIM + dt.timedelta(minutes=5))
        assert len(box.messages) == 2
    [row] = deliveries(engine, "email")
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 2, OPEN + CLAIM)
    # The repeat carries the same Message-ID, so a mail client may fold the two together.
    assert box.messages[0]["Message-ID"] == box.messages[1]["Message-ID"]


def test_a_death_injected_after_the_send_leaves_the_row_claimed_not_lost(engine, monkeypatch):
    class Died(BaseException):
        pass

    def die(*args, **kwargs):
        raise Died

    people = add_people(engine, "eva@yourco.example")
    with smtp_server() as box:
        config = make_config(email_section(box.port))
        owe_one(engine, "sla_breach", people["eva@yourco.example"], "Breach", OPEN)
        with monkeypatch.context() as patched:
            patched.setattr(delivery, "record_sent", die)
            try:
                deliver(engine, config, OPEN)
            except Died:
                pass
        assert [(r["status"], r["attempts"]) for r in deliveries(engine, "email")] == [("sending", 1)]
        deliver(engine, config, OPEN + CLAIM)
        assert len(box.messages) == 2
    assert [(r["status"], r["attempts"]) for r in deliveries(engine, "email")] == [("sent", 2)]


def test_two_workers_never_claim_the_same_message(engine):
    people = add_people(engine, "eva@yourco.example", "sam@yourco.example")
    config = make_config(email_section(1))  # nothing is sent here: only claimed
    for user_id in people.values():
        owe_one(engine, "sla_breach", user_id, "Breach", OPEN)
    delivery.fan_out(engine, config, OPEN)
    first = claim(engine, config, OPEN, "worker-a")
    second = claim(engine, config, OPEN, "worker-b")
    assert len(first) == 2 and second == []
    assert {r["claimed_by"] for r in deliveries(engine, "email")} == {"worker-a"}
