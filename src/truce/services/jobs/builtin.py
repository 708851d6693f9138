"""Jobs truce runs on its own: the nightly score refresh and the weekly brief.

Each is a thin use of the service that owns the work; the scheduler (truce.services.jobs.scheduler)
decides when, under its lease, and records the counts returned here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from truce.config import TruceConfig
from truce.services.jobs.registry import job
from truce.vocabulary import TEAMS

ACTOR = "scheduler"
# Who gets told the brief is ready: everyone who sits in the joint revenue meeting.
BRIEF_READERS = TEAMS


@job(
    "score_refresh",
    every="0 2 * * *",
    help="Recompute every contact's MQL score (engagement decays daily); inquiries reaching the threshold become MQLs",
)
def score_refresh(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict[str, int]:
    from truce.services import scoring

    counts = scoring.refresh(engine, config, now=now, actor=ACTOR)
    return {name: counts[name] for name in ("scored", "changed", "crossed", "moved_to_mql")}


@job(
    "weekly_brief",
    every="0 7 * * 1",
    help="Build the joint revenue meeting's brief for the week just ended, file it, and tell both teams and RevOps",
)
def weekly_brief(engine: Engine, config: TruceConfig, now: dt.datetime) -> dict[str, int]:
    from truce.brief import render_html, render_markdown
    from truce.files import write_private_text
    from truce.services.brief import build_brief

    period = week_just_ended(now, config.company.timezone)
    data = build_brief(engine, config, period=period, as_of=now)
    folder = brief_folder(config)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private_text(folder / f"brief-{period}.html", render_html(data))
    write_private_text(folder / f"brief-{period}.md", render_markdown(data))
    owed = tell_brief_ready(engine, period, len(data["decisions"]))
    return {"files_written": 2, "decisions": len(data["decisions"]), "messages_owed": owed}


def week_just_ended(now: dt.datetime, timezone: str) -> str:
    """The ISO week before the one `now` falls in, in the company's time zone ("2026-W47")."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    year, week, _ = (today - dt.timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def brief_folder(config: TruceConfig) -> Path:
    """[brief] folder: absolute, or relative to the folder truce.toml is in (else the working folder)."""
    folder = Path(config.brief.folder).expanduser()
    if folder.is_absolute():
        return folder
    source = Path(config.source_path) if config.source_path else None
    base = source.parent if source is not None and source.is_file() else Path.cwd()
    return base / folder


def tell_brief_ready(engine: Engine, period: str, decisions: int) -> int:
    """Owe `brief_ready` to every active member of the three teams, once per period (the key)."""
    from truce.services.notify import owe_team
    from truce.store.work import unit_of_work

    with unit_of_work(engine, ACTOR, "job") as work:
        owed = [
            owe_team(
                work.conn,
                "brief_ready",
                team,
                subject=f"The brief for {period} is ready",
                text=f"The joint revenue meeting's brief for {period} is ready: {decisions} decisions needed.",
                link=f"/brief?period={period}",
                facts={"period": period, "decisions": decisions},
                key=f"brief_ready:{period}",
            )
            for team in BRIEF_READERS
        ]
    return sum(len(ids) for ids in owed)
