"""One MQL count with its definition, or both with the reason: the targets count (contacts whose first
move into MQL fell in the period, UTC days) against the SLA's (handoffs opened, company time zone).

The company (time zone America/New_York, UTC−4 in April 2026), worked out by hand for April 2026:

    ann  MQL 10 Mar (handoff), recycled, MQL again 5 Apr (handoff)   targets: no (first in March)   SLA: yes
    bob  MQL 10 Apr, no handoff                                      targets: yes                    SLA: no
    cy   MQL 12 Apr (handoff)                                        targets: yes                    SLA: yes
    dee  MQL 1 May 02:00 UTC = 30 Apr 22:00 New York (handoff)       targets: no (May in UTC)        SLA: yes
    eve  MQL 20 Apr (handoff), re-routed to a second seller          targets: yes                    SLA: once

    targets 3 (bob, cy, eve); SLA 4 (ann, cy, dee, eve): 3 − 1 never handed over + 1 handed over again
    + 1 by the time zone = 4.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import tempfile
from decimal import Decimal
from pathlib import Path

from conftest import writing
from fastapi.testclient import TestClient
from sqlalchemy import insert

from truce import config as truce_config
from truce.services import sla_report
from truce.services.logins import add_user
from truce.services.mql_counts import mql_counts
from truce.services.targets import targets_report
from truce.store.models import Contact, Handoff, StageChange, Target
from truce.web.app import create_app

CONFIG = truce_config.parse(
    truce_config.default_text().replace('timezone = "UTC"', 'timezone = "America/New_York"', 1), "truce.toml"
)
NOWHERE = Path(tempfile.gettempdir()) / "truce-marketing-mql-writes-nothing" / "truce.toml"
APRIL = (dt.date(2026, 4, 1), dt.date(2026, 4, 30))


def at(month: int, day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


PASSES = {  # contact: [(moment into mql, opens a handoff, re-routed)]
    "ann": [(at(3, 10), True, False), (at(4, 5), True, False)],
    "bob": [(at(4, 10), False, False)],
    "cy": [(at(4, 12), True, False)],
    "dee": [(at(5, 1, 2), True, False)],
    "eve": [(at(4, 20), True, True)],
}


def build(engine) -> None:
    with writing(engine) as conn:
        for n, (name, passes) in enumerate(PASSES.items(), start=1):
            conn.execute(insert(Contact), {"id": n, "email": f"{name}@example.com", "stage": "mql",
                                           "created_at": at(1, 1), "updated_at": at(1, 1)})  # fmt: skip
            before = "inquiry"
            for moment, opens, rerouted in passes:
                if before == "mql":  # recycled in between
                    _move(conn, n, "mql", "recycled", moment - dt.timedelta(days=3))
                    before = "recycled"
                _move(conn, n, before, "mql", moment)
                before = "mql"
                if opens:
                    first = _handoff(conn, n, moment, None)
                    if rerouted:
                        _handoff(conn, n, moment, first)


def _move(conn, contact: int, before: str, after: str, moment: dt.datetime) -> None:
    conn.execute(insert(StageChange), {"entity_type": "contact", "entity_id": contact, "from_stage": before,
                                       "to_stage": after, "changed_at": moment, "origin": "test", "recorded_at": moment})  # fmt: skip


def _handoff(conn, contact: int, moment: dt.datetime, previous: int | None) -> int:
    due = moment + dt.timedelta(days=2)
    return conn.execute(
        insert(Handoff).returning(Handoff.id),
        {"contact_id": contact, "mql_at": moment, "status": "open", "first_touch_due_at": due, "decision_due_at": due,
         "created_at": moment, "updated_at": moment, "attempts": 0, "previous_handoff_id": previous},
    ).scalar_one()  # fmt: skip


def test_it_splits_the_difference_between_the_two_counts_into_its_reasons(engine):
    build(engine)
    counts = mql_counts(engine, CONFIG, *APRIL)
    assert counts == {
        "from": "2026-04-01", "to": "2026-04-30", "time_zone": "America/New_York",
        "first_mqls": 3, "handoffs": 4, "never_handed_over": 1, "handed_over_again": 1,
        "handoff_without_move": 0, "moved_by_time_zone": 1,
    }  # fmt: skip


def test_it_agrees_with_the_sla_report_and_the_targets_report(engine):
    build(engine)
    sla = sla_report.report(engine, CONFIG, now=at(6, 1), with_queue=False)
    april = next(m for m in sla["marketing"]["by_month"] if m["month"] == "2026-04")
    with writing(engine) as conn:
        conn.execute(insert(Target), {"metric": "mqls", "team": "marketing", "period_start": APRIL[0],
                                      "period_end": APRIL[1], "amount": Decimal(10), "created_at": at(3, 1)})  # fmt: skip
    target = targets_report(engine, CONFIG, period="2026-04", as_of=dt.date(2026, 6, 1))["targets"][0]
    counts = mql_counts(engine, CONFIG, *APRIL)
    assert (april["mqls"], target["actual"]) == (counts["handoffs"], counts["first_mqls"]) == (4, 3)


def test_the_targets_page_shows_both_counts_with_why_and_the_sla_page_says_what_it_counts(engine):
    build(engine)
    with writing(engine) as conn:
        conn.execute(insert(Target), {"metric": "mqls", "team": "marketing", "period_start": APRIL[0],
                                      "period_end": APRIL[1], "amount": Decimal(10), "created_at": at(3, 1)})  # fmt: skip
    add_user(engine, email="mia@truce.example", team="marketing", password="mql counts 4 tests")
    client = TestClient(create_app(engine, CONFIG, config_path=NOWHERE), base_url="http://127.0.0.1",
                        headers={"accept": "text/html"})  # fmt: skip
    client.post("/login", data={"email": "mia@truce.example", "password": "mql counts 4 tests"})
    page = client.get("/targets?period=2026-04").text
    block = re.search(r'data-testid="mql-counts-2026-04-01">(.*?)</div>', page, re.S)[1]
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", block)).split())
    assert "became MQL for the first time" in words and "The SLA page counts 4" in words
    assert re.search(r'data-testid="first-mqls">3<', block)
    assert "+1 leads recycled and handed over again" in words
    assert "−1 MQLs never handed over" in words
    assert "+1 first hand-overs that fall on another day in America/New_York than in UTC" in words
    sla = client.get("/sla").text
    assert 'data-testid="mql-definition">MQLs here = handoffs opened in the month (America/New_York)' in sla
