"""Running the diagnostic's rounds: who was asked, who answered, and a reminder to the rest.

Opening a round is `truce.services.survey.open_round`. This module adds what RevOps watches while
a round is open: the response rate per team, and reminders to those who have not answered.

Who is asked: the active users of sales and marketing who may answer (access `member`; viewers
read only). A team's response rate = those of them with an answer in the round ÷ how many were
asked (None when nobody was). Answers of people who have left or moved (inactive now, or in
another team) count in the survey report but not here: the rate says how much of today's team
has spoken.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, func, select

from truce.config import TruceConfig
from truce.services.survey import SurveyError
from truce.store.models import SURVEY_TEAMS, SurveyResponse, SurveyRound, User
from truce.store.work import unit_of_work

REMINDER = "survey_reminder"


def _asked():
    return select(User.id, User.email, User.name, User.team).where(
        User.active.is_(True), User.access == "member", User.team.in_(SURVEY_TEAMS)
    )


def _answered_ids(conn, round_id: int) -> set[int]:
    return set(conn.execute(select(SurveyResponse.respondent_id).where(SurveyResponse.round_id == round_id)).scalars())


def round_overview(engine: Engine, config: TruceConfig) -> list[dict]:
    """Every round, newest opened first: its answers, and per team who was asked, who answered and the rate."""
    with engine.connect() as conn:
        rounds = conn.execute(select(SurveyRound).order_by(SurveyRound.opened_at.desc(), SurveyRound.id.desc())).all()
        asked = conn.execute(_asked()).all()
        answers = dict(
            conn.execute(select(SurveyResponse.round_id, func.count()).group_by(SurveyResponse.round_id)).all()
        )
        shown = []
        for r in rounds:
            answered = _answered_ids(conn, r.id)
            teams: list[dict[str, Any]] = []
            for team in SURVEY_TEAMS:
                members = [u for u in asked if u.team == team]
                done = sum(1 for u in members if u.id in answered)
                teams.append({"team": team, "asked": len(members), "answered": done,
                              "rate": done / len(members) if members else None})  # fmt: skip
            shown.append({"name": r.name, "opened_at": r.opened_at, "closed_at": r.closed_at,
                          "answers": answers.get(r.id, 0), "teams": teams,
                          "waiting": sum(t["asked"] - t["answered"] for t in teams)})  # fmt: skip
    return shown


def send_reminders(engine: Engine, round_name: str, *, actor: str, origin: str = "web") -> dict:
    """Owe a reminder to everyone asked who has not answered `round_name`; at most one per person,
    round and day (a second click the same day owes nothing new). Audited with how many were owed."""
    from truce.services.notify.outbox import owe_many

    now = dt.datetime.now(dt.UTC)
    with unit_of_work(engine, actor, origin) as work:
        conn = work.conn
        round_id = conn.execute(select(SurveyRound.id).where(SurveyRound.name == round_name)).scalar_one_or_none()
        if round_id is None:
            raise SurveyError(f"no survey round {round_name!r}; open it first")
        answered = _answered_ids(conn, round_id)
        waiting = [u for u in conn.execute(_asked().order_by(User.id)) if u.id not in answered]
        messages = [
            {
                "kind": REMINDER,
                "to_user_id": u.id,
                "subject": f"The alignment diagnostic {round_name} is waiting for your answer",
                "text": f"20 statements, 1 to 5, about five minutes. Your team's score needs your view "
                f"before round {round_name} closes.",
                "link": "/survey",
                "facts": {"round": round_name, "team": u.team},
                "key": f"{REMINDER}:{round_id}:{u.id}:{now.date().isoformat()}",
            }
            for u in waiting
        ]
        owed = owe_many(conn, messages)
        work.record(REMINDER, "survey_round", round_id, None,
                    {"round": round_name, "waiting": len(waiting), "reminded": owed})  # fmt: skip
    return {"round": round_name, "waiting": len(waiting), "reminded": owed}
