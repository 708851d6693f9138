"""truce's own jobs: the weekly brief is filed privately and announced once per week; the nightly
score refresh returns its counts."""

from __future__ import annotations

import datetime as dt
import stat

from conftest import writing
from sqlalchemy import insert, select

from truce import config as truce_config
from truce.services.jobs import builtin
from truce.store.models import OutboxMessage, User

MONDAY_SEVEN_BERLIN = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)  # 07:00 CET, Monday 2026-11-30
PEOPLE = [  # (email, team, active)
    ("mia@yourco.example", "marketing", True),
    ("eva@yourco.example", "sales", True),
    ("sam@yourco.example", "sales", True),
    ("ria@yourco.example", "revops", True),
    ("old@yourco.example", "sales", False),
]


def _people(engine) -> dict[str, int]:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with writing(engine) as conn:
        for email, team, active in PEOPLE:
            conn.execute(insert(User).values(email=email, name=email[:3], team=team, active=active, created_at=now))
        return dict(conn.execute(select(User.email, User.id)).all())


def _config(tmp_path):
    path = tmp_path / "truce.toml"
    text = truce_config.default_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"', 1)
    path.write_text(text, encoding="utf-8")
    return truce_config.load(path)


def test_the_week_just_ended_is_the_iso_week_before_today_in_the_company_zone():
    assert builtin.week_just_ended(MONDAY_SEVEN_BERLIN, "Europe/Berlin") == "2026-W48"  # 23 to 29 November
    # 23:30 UTC on Sunday 29 November is already Monday in Berlin, still Sunday in UTC.
    sunday_night = dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC)
    assert builtin.week_just_ended(sunday_night, "Europe/Berlin") == "2026-W48"
    assert builtin.week_just_ended(sunday_night, "UTC") == "2026-W47"


def test_the_weekly_brief_is_filed_privately_next_to_truce_toml_and_announced_once(engine, tmp_path):
    ids = _people(engine)
    config = _config(tmp_path)
    counts = builtin.weekly_brief(engine, config, MONDAY_SEVEN_BERLIN)
    assert counts["files_written"] == 2 and counts["messages_owed"] == 4  # the four active people
    for suffix in ("html", "md"):
        filed = tmp_path / "briefs" / f"brief-2026-W48.{suffix}"
        assert stat.S_IMODE(filed.stat().st_mode) == 0o600
    assert "2026-W48" in (tmp_path / "briefs" / "brief-2026-W48.md").read_text(encoding="utf-8")
    # Run again for the same week (a takeover after a crash): nobody is told twice.
    assert builtin.weekly_brief(engine, config, MONDAY_SEVEN_BERLIN)["messages_owed"] == 0
    with engine.connect() as conn:
        owed = conn.execute(select(OutboxMessage.user_id, OutboxMessage.kind, OutboxMessage.key)).all()
    expected = {ids[email] for email, _, active in PEOPLE if active}
    assert {user for user, _, _ in owed} == expected and len(owed) == 4
    assert {(kind, key) for _, kind, key in owed} == {
        ("brief_ready", f"brief_ready:2026-W48:user:{user}") for user in expected
    }


def test_the_brief_folder_may_be_absolute(tmp_path):
    config = _config(tmp_path)
    elsewhere = tmp_path / "shared" / "briefs"
    moved = config.model_copy(update={"brief": config.brief.model_copy(update={"folder": str(elsewhere)})})
    assert builtin.brief_folder(moved) == elsewhere
    assert builtin.brief_folder(config) == tmp_path / "briefs"


def test_the_score_refresh_job_returns_the_refresh_counts(engine, default_config):
    counts = builtin.score_refresh(engine, default_config, MONDAY_SEVEN_BERLIN)
    assert counts == {"scored": 0, "changed": 0, "crossed": 0, "moved_to_mql": 0}
