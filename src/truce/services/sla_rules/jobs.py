"""The scheduled jobs of the SLA rules (truce.services.jobs.registry runs them under a lease)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from truce.config import TruceConfig
from truce.services.jobs.registry import job
from truce.services.sla_rules import feedback_waiting, pace, rounds


@job("sla_sweep", every="5m", help="Record SLA breaches, remind sellers whose clocks run out, escalate late leads.")
def sla_sweep(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict[str, int]:
    done = rounds.run_round(engine, config, now, actor="job:sla_sweep", origin="job")
    done.pop("breaches")
    return done


@job("mql_pace", every="1d", help="Tell marketing when this month's MQLs are behind the promise, pro-rated.")
def mql_pace(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict[str, int]:
    return pace.check_pace(engine, config, now, actor="job:mql_pace", origin="job")


@job("feedback_reminders", every="1d", help="Remind marketing of sales feedback unanswered for [feedback] days.")
def feedback_reminders(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict[str, int]:
    return feedback_waiting.remind(engine, config, now, actor="job:feedback_reminders", origin="job")
