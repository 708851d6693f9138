"""The joint revenue-meeting brief: one set of numbers for both teams, read from the services that own them.

`build_brief(engine, config, period=..., as_of=...)` returns plain JSON data (str, int, float,
None, lists, dicts; money as exact decimal text), the single source for the HTML and the
Markdown renderers in `truce.brief`. docs/brief.md says every rule below to users.

**The period.** An ISO week ("2026-W47", Monday to Sunday), a month ("2026-11"), a quarter
("2026-Q4") or a year ("2026"). Its edges are midnights in the company's time zone
([company] timezone), so a week that holds a daylight-saving change lasts 167 or 169 hours.
Without a period: the last complete ISO week before today — unless the store's latest stage
change is older than that week's start (a demo, a stale import), in which case the week that
holds that latest change. The period is compared with the one just before it (the previous
week, month, quarter or year). Reports run *as of* the period's end, or as of now while the
period is still running.

Each section reads the service that owns its numbers, asked for the period:

- targets: `targets.targets_report` as of the period's last day (the targets running then);
- funnel: `funnel.funnel_report` for the period and the previous one (UTC days);
- SLA: `sla_report.report` (handoffs whose MQL day, in the company zone, is in the period),
  and `handoff.queue` for the MQLs waiting now;
- cold leads: `custody.cold_leads` as of the period's end, counting the leads that went cold
  within the period and within the previous one;
- stalled opportunities: the brief's own rule (`stalled_deals`);
- feedback: `feedback.feedback_themes`; campaigns: `economics.roi_report` by campaign with the
  [attribution] model; the diagnostic: `survey.survey_report`; key accounts:
  `account_plans.list_plans` and `key_accounts_without_plan`.

A section whose period holds too little to say anything is shown over the 90 days ending on
the period's last day, and says so: campaigns when fewer than MIN_WON_DEALS deals were won (by
close date) in the period, feedback when fewer than MIN_FEEDBACK_ITEMS items were given.

The decisions needed are derived from those numbers by the rules in `decisions`, each with
the number behind it and its threshold.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Integer, cast, func, or_, select

from truce.config import TruceConfig
from truce.store.models import Account, Contact, Opportunity, StageChange, Touchpoint, User
from truce.store.present import present

SECTIONS = (
    "targets",
    "funnel",
    "sla",
    "cold_leads",
    "stalled",
    "feedback",
    "campaigns",
    "diagnostic",
    "account_plans",
)
# The thresholds of the decision rules (docs/brief.md).
SALES_BREACHES_OVER = 3  # more sales SLA breaches than this in the period
MIN_DECIDED_MQLS = 5  # marketing's acceptance is judged on at least this many accepted or rejected MQLs
STALLED_DEALS_AT_LEAST = 3
FEEDBACK_WAITING_DAYS = 14  # items still new after more than this many days
COLD_GROWTH_AT_LEAST = 3  # a team's newly cold leads, up on the previous period by at least this many
PERCEPTION_GAP_OVER = 1.0  # points on the 1–5 scale between sales' and marketing's mean rating
# When a period is too short to say anything about campaigns or feedback.
WIDE_WINDOW_DAYS = 90
MIN_WON_DEALS = 5
MIN_FEEDBACK_ITEMS = 5
TOP = 5
DAY = dt.timedelta(days=1)
METRIC_NAMES = {"mqls": "MQL"}
NO_CAMPAIGN = (None, "(none)")  # how attribution keys touches without a campaign
WEEK_PATTERN = re.compile(r"(\d{4})-[wW](\d{1,2})")


class BriefError(ValueError):
    """A brief that cannot be built as asked; the message says what would work."""


# ---- the period ----------------------------------------------------------------------------------


def _midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The first moment of a day in the zone, in UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


@dataclass(frozen=True)
class BriefPeriod:
    label: str
    kind: str  # week, month, quarter or year
    first_day: dt.date
    last_day: dt.date  # inclusive
    zone: ZoneInfo

    @property
    def start_at(self) -> dt.datetime:
        return _midnight(self.first_day, self.zone)

    @property
    def end_at(self) -> dt.datetime:
        """The first moment after the period: midnight after its last day, company time."""
        return _midnight(self.last_day + DAY, self.zone)

    def previous(self) -> BriefPeriod:
        return containing(self.kind, self.first_day - DAY, self.zone)

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "kind": self.kind,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "start_at": self.start_at,
            "end_at": self.end_at,
            "timezone": self.zone.key,
            "hours": (self.end_at - self.start_at) / dt.timedelta(hours=1),
        }


def week_of(day: dt.date, zone: ZoneInfo) -> BriefPeriod:
    monday = day - dt.timedelta(days=day.weekday())
    year, week, _ = monday.isocalendar()
    return BriefPeriod(f"{year}-W{week:02d}", "week", monday, monday + dt.timedelta(days=6), zone)


def containing(kind: str, day: dt.date, zone: ZoneInfo) -> BriefPeriod:
    """The week, month, quarter or year that holds the day (outside the calendar a caller may ask
    for, too: the period before 1900-W01 is 1899-W52)."""
    from truce.domain import forecast

    if kind == "week":
        return week_of(day, zone)
    span = forecast.containing(kind, day)
    return BriefPeriod(span.label, kind, span.start, span.end, zone)


def parse_period(text: str, timezone: str = "UTC") -> BriefPeriod:
    """An ISO week (2026-W47), a month (2026-11), a quarter (2026-Q4) or a year (2026), from
    1900-W01 to 2999-W52 (truce.domain.calendar_range)."""
    from truce.domain import calendar_range, forecast

    zone, written = ZoneInfo(timezone), (text or "").strip()
    if match := WEEK_PATTERN.fullmatch(written):
        year, week = int(match[1]), int(match[2])
        try:
            calendar_range.check_year(year, written)
            return week_of(dt.date.fromisocalendar(year, week, 1), zone)
        except calendar_range.OutsideCalendar as exc:
            raise BriefError(str(exc)) from None
        except ValueError:
            raise BriefError(
                f"{text!r}: {year} has no ISO week {week} (weeks run 1 to 52, or 53 in some years)"
            ) from None
    try:
        span = forecast.parse_period(written)
    except forecast.PeriodOutsideCalendar as exc:
        raise BriefError(str(exc)) from None
    except forecast.PeriodError:
        raise BriefError(
            f"not a period: {text!r}; write an ISO week (2026-W47), a month (2026-11), a quarter (2026-Q4) or a year (2026)"
        ) from None
    kind = "year" if len(span.label) == 4 else ("quarter" if "Q" in span.label else "month")
    return BriefPeriod(span.label, kind, span.start, span.end, zone)


def latest_stage_change(engine: Engine) -> dt.datetime | None:
    with engine.connect() as conn:
        return _utc(conn.execute(select(func.max(StageChange.changed_at))).scalar())


def default_period(engine: Engine, timezone: str, now: dt.datetime) -> tuple[BriefPeriod, str]:
    """The last complete ISO week, or the week of the store's latest stage change when that is older."""
    zone = ZoneInfo(timezone)
    last_week = week_of(now.astimezone(zone).date() - dt.timedelta(days=7), zone)
    latest = latest_stage_change(engine)
    if latest is not None and latest < last_week.start_at:
        held = week_of(latest.astimezone(zone).date(), zone)
        return (
            held,
            f"the store's latest stage change is older than last week, so the brief covers {held.label}, the week that holds it",
        )
    return last_week, "the last complete ISO week"


def _moment(as_of, zone: ZoneInfo) -> dt.datetime:
    """As of when: now by default; a date means the end of that day, company time."""
    if as_of is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(as_of, dt.datetime):
        return as_of.replace(tzinfo=dt.UTC) if as_of.tzinfo is None else as_of.astimezone(dt.UTC)
    return _midnight(as_of + DAY, zone)


def _utc(value):
    if isinstance(value, str):  # SQLite hands aggregates of timestamps back as text
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


@dataclass(frozen=True)
class _Ask:
    """What every section is asked: the config, the period and the one before, and as of when."""

    config: TruceConfig
    period: BriefPeriod
    previous: BriefPeriod
    now: dt.datetime
    until: dt.datetime  # the period's end, or now while the period runs

    @property
    def zone(self) -> ZoneInfo:
        return self.period.zone

    @property
    def reference_day(self) -> dt.date:
        """The last day the brief has seen: the period's last day, or today while it runs."""
        return (self.until - dt.timedelta(microseconds=1)).astimezone(self.zone).date()

    def trailing(self) -> tuple[dt.date, dt.date]:
        return self.reference_day - dt.timedelta(days=WIDE_WINDOW_DAYS - 1), self.reference_day


# ---- the brief -----------------------------------------------------------------------------------


def build_brief(
    engine: Engine,
    config: TruceConfig,
    *,
    period: str | None = None,
    as_of: dt.datetime | dt.date | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """The brief for the period (default: see `default_period`), as plain JSON data."""
    zone = ZoneInfo(config.company.timezone)
    now = _moment(as_of, zone)
    if period is None:
        chosen, why = default_period(engine, config.company.timezone, now)
    else:
        chosen, why = parse_period(period, config.company.timezone), "as asked"
    if chosen.start_at >= now:
        raise BriefError(f"{chosen.label} has not started yet: it starts on {chosen.first_day} ({zone.key})")
    ask = _Ask(config, chosen, chosen.previous(), now, min(chosen.end_at, now))
    sections = {}
    with _attribution().one_reading():  # the sections' attribution runs share their journeys
        for name in SECTIONS:
            if progress:
                progress(name)
            sections[name] = BUILDERS[name](engine, ask)
    latest = latest_stage_change(engine)
    opening = _opening(engine, ask)
    return plain(
        {
            "title": f"Joint revenue meeting — {chosen.label}",
            "company": config.company.name,
            "currency": config.company.currency,
            "period": {**chosen.as_dict(), "chosen": why, "complete": ask.until == chosen.end_at},
            "previous": ask.previous.as_dict(),
            "as_of": ask.until,
            "generated_at": now,
            "latest_stage_change": latest,
            "sections": sections,
            "decisions": decisions(sections, ask),
            "last_meeting": opening["last_meeting"],
            "initiatives": opening["initiatives"],
        }
    )


def _opening(engine: Engine, ask: _Ask) -> dict:
    """What the brief opens with: the last meeting's decisions and the initiatives under way."""
    from truce.services.meetings.brief_part import brief_part

    return brief_part(engine, ask.config, first_day=ask.period.first_day, reference_day=ask.reference_day, now=ask.now)


def plain(value):
    """JSON-ready: Decimal as exact text, dates and times as ISO text, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _attribution():
    """The attribution service, imported when a brief is built (it loads the analytics engine)."""
    return importlib.import_module("truce.services.attribution")


def _service(name: str):
    """A service module, or None while it is not part of this build (its section then says so)."""
    try:
        return importlib.import_module(f"truce.services.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"truce.services.{name}":
            raise
        return None


def _missing(name: str) -> dict:
    return {"available": False, "reason": f"truce.services.{name} is not part of this installation"}


# ---- sections ------------------------------------------------------------------------------------


def _targets(engine: Engine, ask: _Ask) -> dict:
    service = _service("targets")
    if service is None:
        return _missing("targets")
    found = service.targets_report(engine, ask.config, as_of=ask.reference_day)
    return {"available": True, "as_of": found["as_of"], "model": found["model"], "rows": found["targets"]}


def _entered(report: dict) -> dict[str, int]:
    return {row["stage"]: row["entered"] for row in report["volume"]["total"]}


def _funnel(engine: Engine, ask: _Ask) -> dict:
    from truce.services.funnel import funnel_report

    funnel, previous = ask.config.funnel, ask.previous
    now = funnel_report(engine, ask.config, start=ask.period.first_day, end=ask.period.last_day)
    before = funnel_report(engine, ask.config, start=previous.first_day, end=previous.last_day)
    entered, entered_before = _entered(now), _entered(before)
    rows = [
        {
            "stage": stage.key,
            "label": stage.label,
            "team": stage.team,
            "exit": stage in funnel.exits,
            "entered": entered.get(stage.key, 0),
            "previous": entered_before.get(stage.key, 0),
            "change": entered.get(stage.key, 0) - entered_before.get(stage.key, 0),
        }
        for stage in [*funnel.stages, *funnel.exits]
    ]
    return {
        "available": True,
        "as_of": now["as_of"],
        "rows": rows,
        "conversion": _conversion(funnel, now, before),
        "rejections": _rejections(funnel.handoff_stage, now),
    }


def _conversion(funnel, now: dict, before: dict) -> list[dict]:
    """Period conversion between neighbouring stages (entered the next ÷ entered this), now and before."""
    current = {(r["from_stage"], r["to_stage"]): r for r in now["conversion"]["period"]["total"]}
    earlier = {(r["from_stage"], r["to_stage"]): r for r in before["conversion"]["period"]["total"]}
    keys = [s.key for s in funnel.stages]
    rows = []
    for pair in zip(keys, keys[1:], strict=False):
        found = current.get(pair, {})
        rows.append(
            {
                "from_stage": pair[0],
                "to_stage": pair[1],
                "entered_from": found.get("entered_from", 0),
                "entered_to": found.get("entered_to", 0),
                "rate": found.get("rate"),
                "previous_rate": earlier.get(pair, {}).get("rate"),
            }
        )
    return rows


def _rejections(handoff_stage: str, report: dict) -> list[dict]:
    """Leads leaving the funnel from the handoff stage, per reason (most first)."""
    counts: Counter = Counter()
    for move in report["leakage"]["moves"]:
        if move["from_stage"] == handoff_stage:
            counts[move["reason"]] += move["moves"]
    return [{"reason": r, "moves": n} for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] or ""))]


def _sla(engine: Engine, ask: _Ask) -> dict:
    from truce.services import handoff, sla_report

    period = ask.period
    # Compliance only: the queue below is the one as of now, counted once.
    found = sla_report.report(
        engine, ask.config, now=ask.until, start=period.first_day, end=period.last_day, with_queue=False
    )
    overall = sla_report.report(engine, ask.config, now=ask.until, with_queue=False)
    waiting = handoff.queue(engine, ask.config, ask.now)
    return {
        "available": True,
        "sales": _sales_side(found["sales"]),
        "marketing": _marketing_side(ask, found["marketing"], overall["marketing"]),
        "queue": {
            "as_of": ask.now,
            "waiting": len(waiting),
            "past_first_touch": sum(1 for row in waiting if handoff.past_first_touch(row)),
            "past_decision": sum(1 for row in waiting if row["hours_to_decision"] < 0),
        },
    }


def _breaches(tally: dict) -> int:
    return tally["first_touch"]["breached"] + tally["decision"]["breached"] + tally["too_few_attempts"]


def _sales_side(sales: dict) -> dict:
    people = [
        {
            "owner": row["owner"],
            "first_touch_late": row["first_touch"]["breached"],
            "decision_late": row["decision"]["breached"],
            "too_few_attempts": row["too_few_attempts"],
            "breaches": _breaches(row),
        }
        for row in sales["by_person"]
    ]
    people = sorted((p for p in people if p["breaches"]), key=lambda p: (-p["breaches"], p["owner"]))
    return {
        "handoffs": sales["handoffs"],
        "first_touch": sales["first_touch"],
        "decision": sales["decision"],
        "too_few_attempts": sales["too_few_attempts"],
        "unswept": sales["unswept"],
        "breaches": _breaches(sales),
        "by_person": people[:TOP],
    }


def _marketing_side(ask: _Ask, period: dict, overall: dict) -> dict:
    """The period's MQLs and their acceptance, and the monthly volume promise of months ending in it."""
    rows = period["by_month"]
    accepted, rejected = sum(r["accepted"] for r in rows), sum(r["rejected"] for r in rows)
    decided = accepted + rejected
    rate = accepted / decided if decided else None
    judged = decided >= MIN_DECIDED_MQLS
    below = judged and rate < overall["min_acceptance_rate"]
    months = [m for m in overall["by_month"] if ask.period.first_day <= _month_end(m["month"]) <= ask.period.last_day]
    short = sum(1 for m in months if m["complete"] and not m["volume_met"])
    return {
        "mqls": sum(r["mqls"] for r in rows),
        "accepted": accepted,
        "rejected": rejected,
        "acceptance_rate": rate,
        "min_acceptance_rate": overall["min_acceptance_rate"],
        "min_decided": MIN_DECIDED_MQLS,
        "acceptance_judged": judged,
        "acceptance_below_minimum": below,
        "mqls_per_month": overall["mqls_per_month"],
        "months_ending": months,
        "months_short": short,
        "breaches": int(below) + short,
    }


def _month_end(month: str) -> dt.date:
    year, number = int(month[:4]), int(month[5:7])
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    return following - DAY


def _cold_leads(engine: Engine, ask: _Ask) -> dict:
    from truce.services.custody import cold_leads

    found = cold_leads(engine, ask.config, now=ask.until)
    now: Counter[str] = Counter()
    before: Counter[str] = Counter()
    held: defaultdict[str, list[float]] = defaultdict(list)
    people: Counter = Counter()
    still = Counter(lead["team"] for lead in found["leads"])
    for lead in found["leads"]:
        went = dt.datetime.fromisoformat(lead["went_cold_at"])
        if ask.period.start_at <= went < ask.until:
            now[lead["team"]] += 1
            held[lead["team"]].append(lead["held_days"])
            people[lead["team"], lead["person"]] += 1
        elif ask.previous.start_at <= went < ask.previous.end_at:
            before[lead["team"]] += 1
    teams = sorted({"marketing", "sales"} | set(still))
    rows = [
        {
            "team": team,
            "went_cold": now[team],
            "previous": before[team],
            "change": now[team] - before[team],
            "mean_held_days": round(sum(held[team]) / len(held[team]), 2) if held[team] else None,
            "cold_at_end": still[team],
        }
        for team in teams
    ]
    ranked = sorted(people.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or ""))
    return {
        "available": True,
        "cold_after_days": found["cold_after_days"],
        "as_of": found["as_of"],
        "by_team": rows,
        "by_person": [{"team": t, "person": p, "went_cold": n} for (t, p), n in ranked[:TOP]],
    }


def stalled_deals(engine: Engine, *, end_at: dt.datetime, last_day: dt.date, days: int) -> dict:
    """Opportunities open at `end_at` with no touch on their account or contact, and no move, for `days` days.

    Open then: created before end_at, and not closed by the last day (status open, or a close
    date after last_day, or none — the forecast's rule). Activity: any touchpoint before end_at
    on the deal's primary contact or on any contact of its account, any stage change of the deal
    before end_at, and its creation. Stalled: the latest activity is at least `days` days old.
    """
    before = end_at
    account_of_touch = func.coalesce(Touchpoint.account_id, Contact.account_id)
    by_account = (
        # Typed, or SQLite cannot index the grouped rows to join them and scans them for every deal.
        select(cast(account_of_touch, Integer).label("account_id"), func.max(Touchpoint.occurred_at).label("at"))
        .join(Contact, Contact.id == Touchpoint.contact_id)
        .where(Touchpoint.occurred_at < before)
        .group_by(account_of_touch)
        .subquery()
    )
    by_contact = (
        select(Touchpoint.contact_id, func.max(Touchpoint.occurred_at).label("at"))
        .where(Touchpoint.occurred_at < before)
        .group_by(Touchpoint.contact_id)
        .subquery()
    )
    moves = (
        select(StageChange.entity_id, func.max(StageChange.changed_at).label("at"))
        .where(StageChange.entity_type == "opportunity", StageChange.changed_at < before)
        .group_by(StageChange.entity_id)
        .subquery()
    )
    query = (
        select(
            Opportunity.id,
            Opportunity.name,
            Opportunity.amount,
            Opportunity.stage,
            Opportunity.created_at,
            Account.name.label("account"),
            User.email.label("owner"),
            by_account.c.at.label("account_touch"),
            by_contact.c.at.label("contact_touch"),
            moves.c.at.label("moved"),
        )
        .outerjoin(Account, Account.id == Opportunity.account_id)
        .outerjoin(User, User.id == Opportunity.owner_id)
        .outerjoin(by_account, by_account.c.account_id == Opportunity.account_id)
        .outerjoin(by_contact, by_contact.c.contact_id == Opportunity.primary_contact_id)
        .outerjoin(moves, moves.c.entity_id == Opportunity.id)
        .where(
            Opportunity.created_at < before,
            present(Opportunity),
            or_(Opportunity.status == "open", Opportunity.close_date.is_(None), Opportunity.close_date > last_day),
        )
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    quiet_for = dt.timedelta(days=days)
    deals = []
    for row in rows:
        last = max(_utc(t) for t in (row.created_at, row.account_touch, row.contact_touch, row.moved) if t is not None)
        if end_at - last >= quiet_for:
            deals.append(
                {
                    "id": row.id,
                    "name": row.name,
                    "account": row.account,
                    "owner": row.owner,
                    "stage": row.stage,
                    "amount": row.amount,
                    "last_activity_at": last,
                    "quiet_days": round((end_at - last) / DAY, 1),
                }
            )
    deals.sort(key=lambda d: (-d["quiet_days"], -d["amount"], d["id"]))
    return {"open_deals": len(rows), "deals": deals, "amount": sum((d["amount"] for d in deals), Decimal("0.00"))}


def _stalled(engine: Engine, ask: _Ask) -> dict:
    days = ask.config.brief.stalled_after_days
    found = stalled_deals(engine, end_at=ask.until, last_day=ask.reference_day, days=days)
    return {
        "available": True,
        "stalled_after_days": days,
        "as_of": ask.until,
        "open_deals": found["open_deals"],
        "count": len(found["deals"]),
        "amount": found["amount"],
        "deals": found["deals"],
    }


def _feedback(engine: Engine, ask: _Ask) -> dict:
    service = _service("feedback")
    if service is None:
        return _missing("feedback")
    window = (ask.period.first_day, ask.period.last_day)
    themes = service.feedback_themes(engine, ask.config, start=window[0], end=window[1])
    in_period = themes["items_in_period"]
    widened = in_period < MIN_FEEDBACK_ITEMS
    if widened:
        window = ask.trailing()
        themes = service.feedback_themes(engine, ask.config, start=window[0], end=window[1])
    waited = ask.reference_day - dt.timedelta(days=FEEDBACK_WAITING_DAYS + 1)
    waiting = service.feedback_themes(engine, ask.config, end=waited)["open"]
    counts = sorted(((k, n) for k, n in themes["counts"].items() if n), key=lambda kv: (-kv[1], kv[0]))
    return {
        "available": True,
        "items_in_period": in_period,
        "window": {"from": window[0], "to": window[1], "widened": widened},
        "items_in_window": themes["items_in_period"],
        "counts": [{"kind": k, "count": n} for k, n in counts],
        "terms": themes["terms"][:8],
        "competitors": themes["competitors"][:TOP],
        "products": themes["products"][:TOP],
        "answered_share": themes["answered_share"],
        "open": themes["open"],
        "answers": [item for item in themes["items"] if item["reply"]][:TOP],
        "recent": themes["items"][:TOP],
        "waiting_days": FEEDBACK_WAITING_DAYS,
        "waiting": waiting,
    }


def won_deals(engine: Engine, first: dt.date, last: dt.date) -> int:
    """Deals won with a close date from first to last (both included): enough to judge campaigns by?"""
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(
                Opportunity.status == "won", Opportunity.close_date >= first, Opportunity.close_date <= last
            )
        ).scalar_one()


def _campaigns(engine: Engine, ask: _Ask) -> dict:
    from truce.services.economics import roi_report

    window = (ask.period.first_day, ask.period.last_day)
    won_in_period = won_deals(engine, *window)
    widened = won_in_period < MIN_WON_DEALS
    if widened:
        window = ask.trailing()
    model = ask.config.attribution.model
    roi = roi_report(engine, ask.config, model=model, by="campaign", start=window[0], end=window[1])
    rows = [_named(row) for row in roi["rows"]]
    return {
        "available": True,
        "model": roi["model"],
        "currency": roi["currency"],
        "won_deals_in_period": won_in_period,
        "window": {"from": window[0], "to": window[1], "widened": widened},
        "won_deals": won_deals(engine, *window),
        "totals": roi["totals"],
        "unattributed": roi["unattributed"],
        "campaigns_with_spend": sum(1 for r in rows if r["spend"]),
        "top_by_revenue": _top(rows, "revenue"),
        "top_by_spend": _top(rows, "spend"),
    }


def _top(rows: list[dict], column: str) -> list[dict]:
    """The TOP rows with the most in the column (none with nothing), ties by key."""
    return sorted((r for r in rows if r[column]), key=lambda r: (-r[column], r["key"] or ""))[:TOP]


def _named(row: dict) -> dict:
    """Credit for touches outside any campaign (sales' calls and meetings, untracked visits) gets a name."""
    if row["key"] in NO_CAMPAIGN:
        return {**row, "label": "No campaign (sales and untracked touches)"}
    return row


def _diagnostic(engine: Engine, ask: _Ask) -> dict:
    service = _service("survey")
    if service is None:
        return _missing("survey")
    try:
        found = service.survey_report(engine, ask.config, now=ask.until)
    except service.SurveyError as exc:
        return {"available": True, "round": None, "message": str(exc)}
    teams = {
        team: {k: figures.get(k) for k in ("respondents", "mean", "type", "withheld")}
        for team, figures in found["teams"].items()
    }
    return {
        "available": True,
        "round": found["round"],
        "period": found["period"],
        "company": found["company"],
        "teams": teams,
        "target": found["target"],
        "gaps": found["gaps"][:TOP],
        "gap_threshold": PERCEPTION_GAP_OVER,
        "gaps_over": [g for g in found["gaps"] if abs(g["gap"]) > PERCEPTION_GAP_OVER],
        "playbook": (found["playbook"] or [])[:3],
        "trend": found["trend"],
        "notes": found["notes"],
    }


def _account_plans(engine: Engine, ask: _Ask) -> dict:
    service = _service("account_plans")
    if service is None:
        return _missing("account_plans")
    today = ask.until.astimezone(ask.zone).date()
    plans = service.list_plans(engine, today=today)
    return {
        "available": True,
        "today": today,
        "plans": plans,
        "overdue": sum(1 for p in plans if p["overdue"]),
        "key_accounts_without_plan": service.key_accounts_without_plan(engine),
    }


BUILDERS: dict[str, Callable[[Engine, _Ask], dict]] = {
    "targets": _targets,
    "funnel": _funnel,
    "sla": _sla,
    "cold_leads": _cold_leads,
    "stalled": _stalled,
    "feedback": _feedback,
    "campaigns": _campaigns,
    "diagnostic": _diagnostic,
    "account_plans": _account_plans,
}


# ---- decisions needed ----------------------------------------------------------------------------


def _decision(rule: str, owner: str, text: str, value, threshold) -> dict:
    return {"rule": rule, "owner": owner, "text": text, "value": value, "threshold": threshold}


def _money(value, currency: str) -> str:
    return f"{currency} {Decimal(str(value)):,.0f}"


def _count(n, thing: str, things: str | None = None) -> str:
    """3 stalled deals, 1 stalled deal."""
    return f"{n:,} {thing if n == 1 else (things or thing + 's')}"


def _sales_sla_rule(sections: dict, ask: _Ask) -> list[dict]:
    sla = sections["sla"]
    sales, queue = sla["sales"], sla["queue"]
    if sales["breaches"] <= SALES_BREACHES_OVER:
        return []
    kinds = (
        _count(sales["first_touch"]["breached"], "late first contact"),
        _count(sales["decision"]["breached"], "late decision"),
        _count(sales["too_few_attempts"], "rejection after too few attempts", "rejections after too few attempts"),
    )
    text = (
        f"decide how to clear the MQL queue — {_count(sales['breaches'], 'SLA breach', 'SLA breaches')} in "
        f"{ask.period.label} ({', '.join(kinds)}); {_count(queue['waiting'], 'MQL')} waiting now, "
        f"{queue['past_decision']:,} past the decision deadline"
    )
    return [_decision("sales_sla_breaches", "sales", text, sales["breaches"], SALES_BREACHES_OVER)]


def _acceptance_rule(sections: dict, ask: _Ask) -> list[dict]:
    marketing = sections["sla"]["marketing"]
    if not marketing["acceptance_below_minimum"]:
        return []
    reasons = [f"{r['reason']} ({r['moves']})" for r in sections["funnel"]["rejections"] if r["reason"]][:2]
    decided = marketing["accepted"] + marketing["rejected"]
    text = (
        f"decide how to raise lead quality — sales accepted {marketing['acceptance_rate']:.0%} of the MQLs it "
        f"decided on in {ask.period.label} ({marketing['accepted']} of {decided}), below the agreed "
        f"{marketing['min_acceptance_rate']:.0%}" + (f"; most given reasons: {', '.join(reasons)}" if reasons else "")
    )
    rate = round(marketing["acceptance_rate"], 4)
    return [_decision("marketing_acceptance", "marketing", text, rate, marketing["min_acceptance_rate"])]


def _forecast_rule(sections: dict, ask: _Ask) -> list[dict]:
    targets = sections["targets"]
    if not targets["available"]:
        return []
    found = []
    for row in targets["rows"]:
        running = row["days_elapsed"] < row["days_total"]
        if not running or row["forecast"] is None or row["forecast"] >= row["amount"]:
            continue
        if row["metric"] == "mqls":
            forecast, amount = f"{row['forecast']:,.0f} MQLs", f"{row['amount']:,.0f}"
        else:
            currency = ask.config.company.currency
            forecast, amount = _money(row["forecast"], currency), _money(row["amount"], currency)
        text = (
            f"decide how to close the gap to the {row['period']} {METRIC_NAMES.get(row['metric'], row['metric'])} "
            f"target — forecast {forecast} against {amount} ({row['forecast_attainment']:.0%})"
        )
        owner = "both" if row["team"] == "shared" else row["team"]
        found.append(_decision("forecast_below_target", owner, text, row["forecast"], row["amount"]))
    return found


def _stalled_rule(sections: dict, ask: _Ask) -> list[dict]:
    stalled = sections["stalled"]
    if stalled["count"] < STALLED_DEALS_AT_LEAST:
        return []
    text = (
        f"decide on {_count(stalled['count'], 'stalled deal')} worth "
        f"{_money(stalled['amount'], ask.config.company.currency)} — no touch and no move for "
        f"{stalled['stalled_after_days']}+ days: revive, re-date or close them"
    )
    return [_decision("stalled_deals", "sales", text, stalled["count"], STALLED_DEALS_AT_LEAST)]


def _feedback_rule(sections: dict, ask: _Ask) -> list[dict]:
    feedback = sections["feedback"]
    if not feedback["available"] or feedback["waiting"] < 1:
        return []
    text = (
        f"answer the {_count(feedback['waiting'], 'feedback item')} from the sales floor that "
        f"{'has' if feedback['waiting'] == 1 else 'have'} waited more than {FEEDBACK_WAITING_DAYS} days"
    )
    return [_decision("feedback_waiting", "marketing", text, feedback["waiting"], 1)]


def _cold_rule(sections: dict, ask: _Ask) -> list[dict]:
    found = []
    for row in sections["cold_leads"]["by_team"]:
        if row["change"] < COLD_GROWTH_AT_LEAST:
            continue
        text = (
            f"decide how to stop leads going cold — {row['went_cold']:,} went cold in "
            f"{ask.period.label} against {row['previous']:,} in {ask.previous.label}"
        )
        found.append(_decision("cold_leads_growing", row["team"], text, row["change"], COLD_GROWTH_AT_LEAST))
    return found


def _gap_rule(sections: dict, ask: _Ask) -> list[dict]:
    diagnostic = sections["diagnostic"]
    if not diagnostic["available"] or not diagnostic.get("gaps_over"):
        return []
    widest = diagnostic["gaps_over"][0]
    text = (
        f"talk through where you see things differently — {_count(len(diagnostic['gaps_over']), 'statement')} "
        f"with a perception gap over {PERCEPTION_GAP_OVER:g} point in round {diagnostic['round']}; widest: "
        f"“{widest['text']}” (sales {widest['sales']:.1f}, marketing {widest['marketing']:.1f})"
    )
    return [_decision("perception_gap", "both", text, abs(widest["gap"]), PERCEPTION_GAP_OVER)]


def _plans_rule(sections: dict, ask: _Ask) -> list[dict]:
    plans = sections["account_plans"]
    if not plans["available"]:
        return []
    found = []
    if plans["overdue"]:
        first = next(p for p in plans["plans"] if p["overdue"])
        text = (
            f"settle {_count(plans['overdue'], 'overdue joint account-plan action')} — first: "
            f"{first['account']}, “{first['next_action']}”, due {first['next_action_due']}"
        )
        found.append(_decision("account_plan_overdue", "both", text, plans["overdue"], 1))
    without = plans["key_accounts_without_plan"]
    if without:
        names = ", ".join(a["account"] for a in without[:3]) + (", …" if len(without) > 3 else "")
        text = (
            f"name a marketing liaison and write a joint plan for {_count(len(without), 'key account')} "
            f"without one ({names})"
        )
        found.append(_decision("key_accounts_without_plan", "both", text, len(without), 1))
    return found


RULES = (
    _forecast_rule,
    _sales_sla_rule,
    _acceptance_rule,
    _stalled_rule,
    _cold_rule,
    _feedback_rule,
    _gap_rule,
    _plans_rule,
)


def decisions(sections: dict, ask: _Ask) -> list[dict]:
    """The decisions the numbers call for, each with its number and threshold (docs/brief.md)."""
    return [found for rule in RULES for found in rule(sections, ask)]
