"""What the brief opens with: the last meeting's decisions, and the initiatives under way.

The last meeting is the latest one held by the time the brief is written whose period starts no
later than the brief's. Each of its decisions shows its state, owner and due date, and whether
its indicator moved: the value kept when it was decided (the 28 days before) against the same
indicator over the 28 days ending on the brief's last day (today while the period runs). Active
initiatives show their indicators at the start against the 90 days ending on that day.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from truce.config import TruceConfig
from truce.domain import meetings as rules
from truce.services.meetings.common import DECISION_WINDOW_DAYS, measure, today_in, window_ending
from truce.services.meetings.decisions import decision_rows
from truce.services.meetings.initiatives import list_initiatives
from truce.services.meetings.meetings import _meeting, latest_meeting_before


def brief_part(
    engine: Engine, config: TruceConfig, *, first_day: dt.date, reference_day: dt.date, now: dt.datetime
) -> dict:
    """{"last_meeting": {...} | None, "initiatives": [...]}, for truce.services.brief."""
    return {
        "last_meeting": last_meeting(engine, config, first_day=first_day, reference_day=reference_day, now=now),
        "initiatives": list_initiatives(engine, config, as_of=reference_day, now=now, active_only=True),
    }


def last_meeting(
    engine: Engine, config: TruceConfig, *, first_day: dt.date, reference_day: dt.date, now: dt.datetime
) -> dict | None:
    with engine.connect() as conn:
        meeting_id = latest_meeting_before(conn, first_day, now)
        if meeting_id is None:
            return None
        meeting = _meeting(conn, meeting_id, today_in(config, now), decision_rows)  # states and overdue as they are now
    keys = {d["indicator"] for d in meeting["decisions"]}
    window = window_ending(reference_day, DECISION_WINDOW_DAYS)
    current = measure(engine, config, sorted(keys), window, now) if keys else {}
    for decision in meeting["decisions"]:
        key = decision["indicator"]
        decision["moved"] = rules.moved(key, decision["indicator_then"], current[key])
    return {**meeting, "window_days": DECISION_WINDOW_DAYS, "now_window": {"from": window[0], "to": window[1]}}
