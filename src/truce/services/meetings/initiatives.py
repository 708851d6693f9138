"""The playbook's moves as tracked initiatives: did the move work?

RevOps adopts a move (truce.domain.meetings.MOVES) with an owner, a start date and the indicators
it should change (default: the move's own). Adopting measures each indicator over the 90 days
before the start — ending on the day before the start, or yesterday when the start is later
than that — and keeps the values as the baseline. Reading an initiative measures them again over
the 90 days ending on the day asked (yesterday by default; the brief's last day in the brief),
and sets beside them the survey's company score in the latest round whose period ended before
the start and in the latest round whose period began on or after it, with the change between.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import aliased

from truce.config import TruceConfig
from truce.domain import meetings as rules
from truce.services.meetings.common import (
    INITIATIVE_WINDOW_DAYS,
    MeetingRefused,
    NotYours,
    acting_user,
    active_user,
    day,
    measure,
    text,
    today_in,
    window_before,
    window_ending,
)
from truce.store.models import Initiative, SurveyRound, User
from truce.store.work import unit_of_work


def _indicators(keys) -> list[str]:
    try:
        return list(dict.fromkeys(rules.check_indicator(k) for k in keys))
    except rules.UnknownIndicator as exc:
        raise MeetingRefused("indicators", str(exc)) from None


def adopt_initiative(
    engine: Engine,
    config: TruceConfig,
    *,
    move: str,
    owner: str | None,
    start: dt.date | str | None,
    indicators=(),
    note: str | None = None,
    actor: str | None,
    origin: str = "cli",
    now: dt.datetime | None = None,
) -> dict:
    """RevOps adopts a playbook move as an initiative; returns it as `list_initiatives` shows it."""
    try:
        chosen = rules.check_move(move)
    except rules.UnknownMove as exc:
        raise MeetingRefused("move", str(exc)) from None
    if start in (None, ""):
        raise MeetingRefused("start", "start needs a date, YYYY-MM-DD")
    started_on = day(start, "start")
    keys = _indicators(indicators) or list(chosen.indicators)
    written = text(note, "note", required=False)
    now = now or dt.datetime.now(dt.UTC)
    today = today_in(config, now)
    baseline = measure(engine, config, keys, window_before(min(started_on, today), INITIATIVE_WINDOW_DAYS), now)
    with unit_of_work(engine, actor or "cli", origin) as work:
        conn = work.conn
        by = acting_user(conn, actor)
        if by["team"] != "revops":
            raise NotYours(f"{by['email']} may not adopt an initiative: RevOps adopts the playbook's moves")
        who = active_user(conn, owner, "owner")
        values = {"move": chosen.key, "owner_id": who["id"], "started_on": started_on, "indicators": keys,
                  "baseline": baseline, "state": "active", "note": written, "adopted_at": now,
                  "adopted_by_id": by["id"]}  # fmt: skip
        initiative_id = conn.execute(insert(Initiative).returning(Initiative.id), values).scalar_one()
        audited = {"move": chosen.key, "owner": who["email"], "started_on": started_on.isoformat(),
                   "indicators": keys, "baseline": baseline, "state": "active", "note": written}  # fmt: skip
        work.record("initiative_adopt", "initiative", initiative_id, None, audited, actor=by["email"])
    return list_initiatives(engine, config, now=now, ids=[initiative_id])[0]


def list_initiatives(
    engine: Engine,
    config: TruceConfig,
    *,
    as_of: dt.date | None = None,
    now: dt.datetime | None = None,
    active_only: bool = False,
    ids: list[int] | None = None,
) -> list[dict]:
    """Initiatives, oldest first, each with its indicators before (at the start) and now, and the score change."""
    now = now or dt.datetime.now(dt.UTC)
    last = as_of or today_in(config, now) - dt.timedelta(days=1)
    owner, adopter = aliased(User), aliased(User)
    query = (
        select(
            Initiative.__table__,
            owner.email.label("owner"),
            owner.name.label("owner_name"),
            adopter.email.label("adopted_by"),
        )
        .join(owner, owner.id == Initiative.owner_id)
        .join(adopter, adopter.id == Initiative.adopted_by_id)
        .order_by(Initiative.started_on, Initiative.id)
    )
    if active_only:
        query = query.where(Initiative.state == "active")
    if ids is not None:
        query = query.where(Initiative.id.in_(ids))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    scores = _round_scores(engine, config) if rows else []
    return [_initiative(engine, config, r, last, now, scores) for r in rows]


def _initiative(engine, config, r, last: dt.date, now, scores) -> dict:
    window = window_ending(last, INITIATIVE_WINDOW_DAYS)
    current = measure(engine, config, r["indicators"], window, now)
    return {
        "id": r["id"],
        "move": r["move"],
        "move_text": rules.MOVES[r["move"]].move if r["move"] in rules.MOVES else r["move"],
        "owner": r["owner"],
        "owner_name": r["owner_name"],
        "started_on": r["started_on"],
        "state": r["state"],
        "note": r["note"],
        "adopted_by": r["adopted_by"],
        "window_days": INITIATIVE_WINDOW_DAYS,
        "now_window": {"from": window[0], "to": window[1]},
        "indicators": [
            {
                "key": key,
                "label": rules.INDICATORS[key].label,
                "better_when": rules.INDICATORS[key].better,
                **rules.moved(key, r["baseline"].get(key), current[key]),
            }
            for key in r["indicators"]
        ],  # fmt: skip
        "score": score_change(scores, r["started_on"]),
    }


def _round_scores(engine: Engine, config: TruceConfig) -> list[dict]:
    """Every survey round with its period and company score (None where anonymity withholds it)."""
    from truce.services import survey

    try:
        trend = survey.survey_report(engine, config, with_indicators=False)["trend"]
    except survey.SurveyError:
        return []
    zone = ZoneInfo(config.company.timezone)
    with engine.connect() as conn:
        opened = dict(conn.execute(select(SurveyRound.name, SurveyRound.opened_at)).all())
    found = []
    for row in trend:
        first, last = survey.round_period(row["round"], opened[row["round"]], zone)
        found.append({"round": row["round"], "from": first, "to": last, "score": row["score"]})
    return found


def score_change(rounds: list[dict], started_on: dt.date) -> dict:
    """The company score in the last round that ended before the start and in the last one begun since."""
    before = [r for r in rounds if r["to"] < started_on]
    after = [r for r in rounds if r["from"] >= started_on]
    then = before[-1] if before else None
    since = after[-1] if after else None
    change = None
    if then and since and then["score"] is not None and since["score"] is not None:
        change = round(since["score"] - then["score"], 1)
    return {
        "round_before": then and then["round"],
        "score_before": then and then["score"],
        "round_after": since and since["round"],
        "score_after": since and since["score"],
        "change": change,
    }
