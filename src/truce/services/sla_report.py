"""`truce sla`: how both sides kept their promises, per side, per person and per month.

Sales' compliance is read from the breaches the sweep recorded (sla_events): of the
handoffs whose deadline has passed, the share without a breach of that kind. Handoffs
whose deadline passed but which no sweep has looked at yet are counted as `unswept`, so a
stale report says so. Marketing's side is measured per month: MQLs handed over against the
monthly commitment, and the share sales accepted against the minimum. Months follow the
company's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from truce.analytics.store_read import remembered
from truce.config import TruceConfig
from truce.services import handoff as handoff_service
from truce.store.models import Handoff, SlaEvent, User

# What the report reads of each handoff: every other column would only be converted and dropped.
TALLIED = (
    Handoff.id,
    Handoff.mql_at,
    Handoff.owner_id,
    Handoff.status,
    Handoff.first_touch_due_at,
    Handoff.decision_due_at,
    Handoff.sla_due_at,
    Handoff.previous_handoff_id,
)


def _share(met: int, due: int) -> float | None:
    return round(met / due, 4) if due else None


class _Tally:
    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, handoff, breaches: frozenset[str], now: dt.datetime) -> None:
        counts = self.counts
        counts["handoffs"] += 1
        for promise, due_column in (("first_touch", "first_touch_due_at"), ("decision", "decision_due_at")):
            if handoff[due_column] > now:
                continue
            counts[f"{promise}_due"] += 1
            if f"{promise}_late" in breaches:
                counts[f"{promise}_breached"] += 1
            elif handoff["sla_due_at"] is not None and handoff["sla_due_at"] <= now:
                counts["unswept"] += 1
        counts["too_few_attempts"] += "too_few_attempts" in breaches

    def as_dict(self) -> dict:
        c = self.counts
        first_met = c["first_touch_due"] - c["first_touch_breached"]
        decision_met = c["decision_due"] - c["decision_breached"]
        return {
            "handoffs": c["handoffs"],
            "first_touch": {
                "due": c["first_touch_due"],
                "met": first_met,
                "breached": c["first_touch_breached"],
                "compliance": _share(first_met, c["first_touch_due"]),
            },
            "decision": {
                "due": c["decision_due"],
                "met": decision_met,
                "breached": c["decision_breached"],
                "compliance": _share(decision_met, c["decision_due"]),
            },
            "too_few_attempts": c["too_few_attempts"],
            "unswept": c["unswept"],
        }


def report(
    engine: Engine,
    config: TruceConfig,
    now: dt.datetime | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    with_queue: bool = True,
) -> dict:
    """Compliance per side, per person and per month (by the month of the MQL), and the live queue.

    with_queue=False leaves the queue out ("queue": None): its business-hour clocks cost most of
    the report, and a caller that only counts compliance has no use for them.
    """
    now = now or dt.datetime.now(dt.UTC)
    zone = ZoneInfo(config.company.timezone)
    handoffs, breaches, emails = remembered(engine, "sla_report.rows", lambda: _read(engine))
    overall = _Tally()
    people: defaultdict[str, _Tally] = defaultdict(_Tally)
    months: defaultdict[str, _Tally] = defaultdict(_Tally)
    volume: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for handoff in handoffs:
        month_day = handoff["mql_at"].astimezone(zone).date()
        if (start and month_day < start) or (end and month_day > end):
            continue
        month = month_day.strftime("%Y-%m")
        kinds = breaches.get(handoff["id"], frozenset())
        for tally in (overall, people[emails.get(handoff["owner_id"], "(unassigned)")], months[month]):
            tally.add(handoff, kinds, now)
        # A re-routed lead is one MQL however many sellers held it (truce.services.sla_rules.escalation).
        volume[month]["mqls"] += handoff["previous_handoff_id"] is None
        volume[month][handoff["status"]] += 1
    return {
        "as_of": now.isoformat(),
        "sales": {
            **overall.as_dict(),
            "by_person": [{"owner": who, **t.as_dict()} for who, t in sorted(people.items())],
            "by_month": [{"month": m, **t.as_dict()} for m, t in sorted(months.items())],
        },
        "marketing": _marketing(config, volume, now.astimezone(zone).strftime("%Y-%m")),
        "queue": handoff_service.queue(engine, config, now) if with_queue else None,
    }


def _read(engine: Engine) -> tuple[list, dict[int, frozenset[str]], dict[int, str]]:
    """Every handoff's TALLIED columns, the breaches per handoff and the users' e-mails — read
    once per revision of the data (the brief asks for four periods), from the analytical copy
    when there is one. Shared between callers: read, never change."""
    from truce.analytics.copy import CopyUnavailable, open_copy

    try:
        con = open_copy(engine)
    except CopyUnavailable:
        return _read_store(engine)
    try:
        names = [column.name for column in TALLIED]
        handoffs = [
            dict(zip(names, row, strict=True))
            for row in con.execute(f"SELECT {', '.join(names)} FROM handoffs ORDER BY mql_at").fetchall()
        ]
        breaches = _grouped(con.execute("SELECT handoff_id, kind FROM sla_events").fetchall())
        emails = dict(con.execute("SELECT id, email FROM users").fetchall())
    finally:
        con.close()
    return handoffs, breaches, emails


def _read_store(engine: Engine) -> tuple[list, dict[int, frozenset[str]], dict[int, str]]:
    with engine.connect() as conn:
        handoffs = conn.execute(select(*TALLIED).order_by(Handoff.mql_at)).mappings().all()
        breaches = _grouped(conn.execute(select(SlaEvent.handoff_id, SlaEvent.kind)).all())
        emails = dict(conn.execute(select(User.id, User.email)).all())
    return list(handoffs), breaches, emails


def _grouped(pairs) -> dict[int, frozenset[str]]:
    found: defaultdict[int, set[str]] = defaultdict(set)
    for handoff_id, kind in pairs:
        found[handoff_id].add(kind)
    return {handoff_id: frozenset(kinds) for handoff_id, kinds in found.items()}


def _marketing(config: TruceConfig, volume: dict, current_month: str) -> dict:
    promise = config.sla.marketing
    months = []
    for month, counts in sorted(volume.items()):
        decided = counts["accepted"] + counts["rejected"]
        rate = _share(counts["accepted"], decided)
        complete = month < current_month
        months.append(
            {
                "month": month,
                "complete": complete,
                "mqls": counts["mqls"],
                "target": promise.mqls_per_month,
                "volume_met": counts["mqls"] >= promise.mqls_per_month,
                "accepted": counts["accepted"],
                "rejected": counts["rejected"],
                "acceptance_rate": rate,
                "min_acceptance_rate": promise.min_acceptance_rate,
                "acceptance_met": rate is not None and rate >= promise.min_acceptance_rate,
            }
        )
    judged = [m for m in months if m["complete"]]
    kept = [m for m in judged if m["volume_met"] and m["acceptance_met"]]
    return {
        "mqls_per_month": promise.mqls_per_month,
        "min_acceptance_rate": promise.min_acceptance_rate,
        "months_judged": len(judged),
        "months_kept": len(kept),
        "compliance": _share(len(kept), len(judged)),
        "by_month": months,
    }
