"""The company's alignment work, made up to match its records: two survey rounds (the second
better than the first), joint plans for the key accounts, and last week's revenue meeting
with its decisions, and Eva's discount requests waiting for RevOps' answer.

Rows for the store's tables as plain dicts, written by `services.demo.build` in one audited
write after the records are loaded (a decision keeps the value its indicator had when it
was made, which is measured from those records).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np

from truce.demo.generator import DemoCompany
from truce.domain import diagnostic
from truce.domain.meetings import MOVES
from truce.services.meetings.common import DECISION_WINDOW_DAYS, INITIATIVE_WINDOW_DAYS

# measured(indicator keys, days, moment): their values over the days before the moment's day.
Measure = Callable[[list[str], int, dt.datetime], dict]
INITIATIVE = "rules_of_engagement"
RATE = Decimal("0.0001")  # a discount rate's grain, as the store keeps it

# Mean rating per statement in each round, and how much lower marketing rates the relationship
# than sales does: the gap the diagnostic exists to show, narrowing as the company works at it.
ROUND_MEAN = (2.3, 3.05)
MARKETING_BELOW_SALES = (0.45, 0.2)
OBJECTIVES = (
    "Expand from {product_a} to {product_b} across the operations team this year.",
    "Renew early and add the analytics seats their finance team asked for.",
    "Win the second business unit before the competitor's contract comes up.",
)
NEXT_ACTIONS = (
    "Joint account review with the customer's operations lead",
    "Invite their planners to the customer panel webinar",
    "Executive briefing: roadmap and pricing for next year",
    "Send the case study from their industry, then call",
)
# (text, indicator, whose decision, days from the meeting until due, closed with a note)
DECISIONS = (
    (
        "Sales answers every MQL within 4 business hours; leaders review the overdue list each morning",
        "sla_compliance.sales",
        "sales",
        9,
        None,
    ),
    (
        "Marketing stops the display retargeting wave and moves its budget to webinars",
        "mql_acceptance_rate",
        "marketing",
        21,
        None,
    ),
    (
        "Every rejected MQL gets a reason code; RevOps checks the empty ones weekly",
        "reasons.rejections_with_reason",
        "revops",
        4,
        "Reason codes are now required in the web form and the CLI.",
    ),
)


def _quarter(day: dt.date, back: int) -> tuple[str, dt.date]:
    """The label and the day after the end of the quarter `back` quarters before the one holding `day`."""
    index = day.year * 4 + (day.month - 1) // 3 - back
    year, number = divmod(index, 4)
    after = index + 1
    return f"{year}-Q{number + 1}", dt.date(after // 4, (after % 4) * 3 + 1, 1)


def survey_rows(
    rng: np.random.Generator, users: list[dict], as_of: dt.datetime, not_yet: tuple[int, ...] = ()
) -> dict[str, list[dict]]:
    """Both teams answer the last two quarters' rounds; the second scores clearly higher.

    The users in `not_yet` (the cast's seller and marketer) have not answered the latest round:
    logged in as them, the survey page still asks for their answers.
    """
    people = [u for u in users if u["active"] and u["team"] in ("sales", "marketing")]
    rounds, responses = [], []
    for number, back in enumerate((2, 1)):
        name, after_end = _quarter(as_of.date(), back)
        opened = min(dt.datetime.combine(after_end + dt.timedelta(days=3), dt.time(9), dt.UTC), as_of)
        opened = min(opened, as_of - dt.timedelta(hours=2))
        round_id = number  # the index of the round in this list; the store gives the id
        rounds.append({"name": name, "opened_at": opened, "closed_at": None})
        theme = rng.normal(0, 0.35, len(diagnostic.KEYS))
        for person in people:
            if number == 1 and person["id"] in not_yet:
                continue
            lean = (
                -MARKETING_BELOW_SALES[number] / 2
                if person["team"] == "marketing"
                else MARKETING_BELOW_SALES[number] / 2
            )
            wanted = ROUND_MEAN[number] + lean + rng.normal(0, 0.25) + theme + rng.normal(0, 0.5, theme.size)
            ratings = np.clip(np.rint(wanted), 1, 5).astype(int)
            submitted = opened + dt.timedelta(minutes=int(rng.integers(5, 60 * 20)))
            responses.append(
                {
                    "round_id": round_id,
                    "respondent_id": person["id"],
                    "team": person["team"],
                    "role": "leader" if person["is_leader"] else "staff",
                    "source": "web",
                    "submitted_at": min(submitted, as_of - dt.timedelta(minutes=1)),
                    **{key: int(r) for key, r in zip(diagnostic.KEYS, ratings, strict=True)},
                }
            )
    return {"survey_rounds": rounds, "survey_responses": responses}


def plan_rows(rng, company: DemoCompany, users: list[dict], as_of: dt.datetime) -> list[dict]:
    """A joint plan for every key account still owned by an active seller; Mia is Acme's liaison."""
    story = company.story
    active = {u["id"] for u in users if u["active"]}
    downstream = [u["id"] for u in users if u["marketing_focus"] == "downstream" and u["active"]]
    downstream.remove(story.marketer_id)
    downstream.insert(0, story.marketer_id)
    accounts = company.tables["accounts"].select(["id", "owner_id", "is_key_account"]).to_pylist()
    key = [a for a in accounts if a["is_key_account"] and a["owner_id"] in active]
    key.sort(key=lambda a: (a["id"] != story.key_account_id, a["id"]))
    products = story.products
    rows = []
    for n, account in enumerate(key):
        due = as_of.date() + dt.timedelta(days=int(rng.integers(-6, 30)))
        created = as_of - dt.timedelta(days=int(rng.integers(20, 120)), hours=int(rng.integers(0, 8)))
        rows.append(
            {
                "account_id": account["id"],
                "liaison_id": downstream[n % len(downstream)],
                "owner_id": account["owner_id"],
                "objectives": OBJECTIVES[n % len(OBJECTIVES)].format(
                    product_a=products[0], product_b=products[1 + n % (len(products) - 1)]
                ),
                "next_action": NEXT_ACTIONS[n % len(NEXT_ACTIONS)],
                # Acme's next step is always ahead, so the seller's first look shows a plan at work.
                "next_action_due": due if n else as_of.date() + dt.timedelta(days=5),
                "created_at": created,
                "updated_at": created + dt.timedelta(days=int(rng.integers(0, 15))),
            }
        )
    return rows


def meeting_rows(
    company: DemoCompany, users: list[dict], config, as_of: dt.datetime, measured: Measure
) -> dict[str, list[dict]]:
    """Last week's joint meeting, held by Owen on its Monday, with three decisions (one done)."""
    from truce.services.brief import week_of

    zone = ZoneInfo(config.company.timezone)
    today = as_of.astimezone(zone).date()
    week = week_of(today - dt.timedelta(days=7), zone)
    held = dt.datetime.combine(week.first_day, dt.time(10), zone).astimezone(dt.UTC)
    story = company.story
    leaders = {u["team"]: u["id"] for u in users if u["is_leader"] and u["active"]}
    owners = {"sales": leaders.get("sales", story.seller_id), "marketing": story.marketer_id, "revops": story.revops_id}
    attendees = [story.revops_id, *leaders.values(), story.seller_id, story.marketer_id]
    meeting = {
        "period": week.label,
        "period_first_day": week.first_day,
        "period_last_day": week.last_day,
        "held_at": held,
        "opened_by_id": story.revops_id,
    }
    items, decisions = [], []
    for n, (text, indicator, team, due_in, closing) in enumerate(DECISIONS, 1):
        items.append({"meeting_id": 0, "position": n, "rule": None, "owner_team": team, "text": text})
        decided = held + dt.timedelta(minutes=10 * n)
        closed = decided + dt.timedelta(days=2) if closing else None
        decisions.append(
            {
                "meeting_id": 0,
                "agenda_item_id": n - 1,
                "text": text,
                "owner_id": owners[team],
                "due_on": week.first_day + dt.timedelta(days=due_in),
                "indicator": indicator,
                "indicator_value": measured([indicator], DECISION_WINDOW_DAYS, decided)[indicator],
                "state": "done" if closing else "open",
                "closing_note": closing,
                "decided_at": decided,
                "decided_by_id": story.revops_id,
                "closed_at": closed if closed and closed < as_of else (as_of if closing else None),
                "closed_by_id": owners[team] if closing else None,
            }
        )
    return {
        "meetings": [meeting],
        "meeting_attendees": [{"meeting_id": 0, "user_id": u} for u in dict.fromkeys(attendees)],
        "meeting_agenda_items": items,
        "decisions": decisions,
    }


def initiative_rows(company: DemoCompany, as_of: dt.datetime, measured: Measure) -> list[dict]:
    """The rules of engagement, adopted by Owen two weeks into the quarter after the first round."""
    _, after_first = _quarter(as_of.date(), 2)
    started = min(after_first + dt.timedelta(days=14), as_of.date() - dt.timedelta(days=1))
    adopted = dt.datetime.combine(started, dt.time(11), dt.UTC)
    keys = list(MOVES[INITIATIVE].indicators)
    baseline = measured(keys, INITIATIVE_WINDOW_DAYS, adopted)
    story = company.story
    return [
        {
            "move": INITIATIVE,
            "owner_id": story.revops_id,
            "started_on": started,
            "indicators": keys,
            "baseline": baseline,
            "state": "active",
            "note": "The SLA both teams signed: first touch within 4 business hours, a decision within 3 days.",
            "adopted_at": adopted,
            "adopted_by_id": story.revops_id,
        }
    ]


# Eva's requests beyond the discount policy, waiting for RevOps, in the order they get their ids
# (#1, #2, #3: the ones `truce discount approve 1`, `refuse 2` and `withdraw 3` answer in --help):
# (reason, points above the deal's limit, business hours ago, her note).
DISCOUNT_REQUESTS = (
    ("multi_year", 5, 2, "Three-year term if we meet them on price"),
    ("competitor", 8, 5, "Rival quoted 22 % off list"),
    ("strategic", 3, 7, "First logo in their region"),
)


def discount_rows(company: DemoCompany, config, as_of: dt.datetime) -> list[dict]:
    """Eva's open requests for a discount beyond policy, on her open deals other than the one the
    help asks about (cast.EVA_DEAL_ID), newest deals first; fewer if she has fewer open deals."""
    from truce.demo.cast import EVA_DEAL_ID
    from truce.domain.discounts import OPEN

    deals = company.tables["opportunities"].select(["id", "owner_id", "status", "product", "account_id"]).to_pylist()
    segments = {a["id"]: a["segment"] for a in company.tables["accounts"].select(["id", "segment"]).to_pylist()}
    eva = company.story.seller_id
    hers = [d for d in deals if d["owner_id"] == eva and d["status"] == "open" and d["id"] != EVA_DEAL_ID]
    hers.sort(key=lambda d: -d["id"])
    clock = config.business_hours.clock(config.company.timezone)
    policy, within = config.pricing.discount_policy, config.pricing.approval.answer_within_hours
    rows = []
    for deal, (reason, above, hours_ago, note) in zip(hers, DISCOUNT_REQUESTS, strict=False):
        limit = Decimal(str(policy.limit_for(segments.get(deal["account_id"]), deal["product"]))).quantize(RATE)
        asked = _business_hours_before(clock, as_of, hours_ago)
        rows.append(
            {
                "opportunity_id": deal["id"],
                "requested_discount": min(limit + Decimal(above) / 100, Decimal("0.9")),
                "policy_limit": limit,
                "reason": reason,
                "request_note": note,
                "requested_by_id": eva,
                "requested_at": asked,
                "due_at": clock.add(asked, dt.timedelta(hours=within)),
                "state": OPEN,
            }
        )
    return rows


def _business_hours_before(clock, moment: dt.datetime, hours: float) -> dt.datetime:
    """Roughly `hours` business hours before `moment`: whole hours back until the clock counts them."""
    at = moment
    while clock.between(at, moment) < dt.timedelta(hours=hours):
        at -= dt.timedelta(hours=1)
    return at


def alignment_rows(
    company: DemoCompany, config, as_of: dt.datetime, seed: int, measured: Measure
) -> dict[str, list[dict]]:
    """Rows per table, parents first: survey rounds and answers, account plans, the meeting.

    A reference to a row made here (round_id, meeting_id, agenda_item_id) is that row's index
    in its table's list: the store assigns the ids when they are written.
    """
    rng = np.random.default_rng([seed, 14])
    users = company.tables["users"].to_pylist()
    return {
        **survey_rows(rng, users, as_of, (company.story.seller_id, company.story.marketer_id)),
        "account_plans": plan_rows(rng, company, users, as_of),
        **meeting_rows(company, users, config, as_of, measured),
        "initiatives": initiative_rows(company, as_of, measured),
        "discount_approvals": discount_rows(company, config, as_of),
    }
