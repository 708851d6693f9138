"""The lease in the database: one run per slot however many claim it, takeover after a crash,
missed slots coalesced, each run audited with its counts — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import select

from truce import config as truce_config
from truce.services.jobs import scheduler
from truce.services.jobs.registry import job
from truce.store.models import AuditEntry, JobRun

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
SLOT = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
CALLS: list[tuple[str, dt.datetime]] = []


@job("test_hourly", every="1h", help="test only: counts its calls")
def _hourly(engine, config, now):
    CALLS.append(("test_hourly", now))
    return {"seen": 7, "told": 2, "note": "not a count"}


@job("test_failing", every="1h", help="test only: always fails")
def _failing(engine, config, now):
    CALLS.append(("test_failing", now))
    raise ValueError("the CRM said no")


@pytest.fixture(autouse=True)
def _fresh_calls():
    CALLS.clear()


def _runs(engine, name: str) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r) for r in conn.execute(select(JobRun).where(JobRun.job == name).order_by(JobRun.slot)).mappings()
        ]


def _audit(engine) -> list[dict]:
    with engine.connect() as conn:
        query = select(AuditEntry).where(AuditEntry.action == "job_run").order_by(AuditEntry.id)
        return [dict(r) for r in conn.execute(query).mappings()]


def _worker(engine, name: str, now: dt.datetime) -> scheduler.Worker:
    return scheduler.Worker(engine, CONFIG, names=[name], clock=lambda: now)


def test_it_gives_a_slot_to_exactly_one_of_many_claimants(engine):
    start, won = threading.Barrier(6), []

    def claimant(i: int) -> None:
        start.wait()
        won.append(scheduler.claim(engine, "test_hourly", SLOT, f"host:{i}:x"))

    threads = [threading.Thread(target=claimant, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([run_id for run_id in won if run_id is not None]) == 1
    assert len(_runs(engine, "test_hourly")) == 1


def test_it_refuses_another_slot_of_a_job_while_a_run_of_it_is_alive(engine):
    assert scheduler.claim(engine, "test_hourly", SLOT, "a:1:x") is not None
    assert scheduler.claim(engine, "test_hourly", SLOT + dt.timedelta(hours=1), "b:2:y") is None
    assert scheduler.claim(engine, "test_failing", SLOT, "b:2:y") is not None  # another job is free


def test_a_finished_slot_is_never_claimed_again(engine):
    run_id = scheduler.claim(engine, "test_hourly", SLOT, "a:1:x")
    scheduler.finish(engine, run_id, "a:1:x", "ok", {"seen": 1}, None)
    assert scheduler.claim(engine, "test_hourly", SLOT, "b:2:y") is None


def test_a_slot_left_running_by_a_dead_holder_is_taken_over_once(engine, monkeypatch):
    first = scheduler.claim(engine, "test_hourly", SLOT, "dead:1:x", lease=60)
    assert scheduler.claim(engine, "test_hourly", SLOT, "b:2:y") is None  # its lease is still live
    later = scheduler.real_now() + dt.timedelta(seconds=61)
    monkeypatch.setattr(scheduler, "real_now", lambda: later)
    taken = [scheduler.claim(engine, "test_hourly", SLOT, holder) for holder in ("b:2:y", "c:3:z")]
    assert taken == [first, None]
    (row,) = _runs(engine, "test_hourly")
    assert (row["holder"], row["attempts"], row["status"]) == ("b:2:y", 2, "running")
    # The dead holder, had it only stalled, finds its run taken over and records nothing.
    assert scheduler.finish(engine, first, "dead:1:x", "ok", {"seen": 1}, None).recorded is False
    assert scheduler.finish(engine, first, "b:2:y", "ok", {"seen": 2}, None).recorded is True
    (row,) = _runs(engine, "test_hourly")
    assert (row["status"], row["counts"]) == ("ok", {"seen": 2})
    assert [entry["after"]["attempts"] for entry in _audit(engine)] == [2]


def test_an_older_slot_left_running_is_closed_as_abandoned_when_a_later_one_runs(engine, monkeypatch):
    scheduler.claim(engine, "test_hourly", SLOT, "dead:1:x", lease=60)
    later = scheduler.real_now() + dt.timedelta(seconds=61)
    monkeypatch.setattr(scheduler, "real_now", lambda: later)
    assert scheduler.claim(engine, "test_hourly", SLOT + dt.timedelta(hours=3), "b:2:y") is not None
    old, new = _runs(engine, "test_hourly")
    assert old["status"] == "failed" and old["error"].startswith("abandoned: its holder dead:1:x stopped")
    assert new["status"] == "running"


def test_a_missed_job_runs_once_for_its_latest_slot(engine):
    assert len(_worker(engine, "test_hourly", SLOT).run_once()) == 1
    # Down from 10:00 to 15:30: the 11:00 to 15:00 slots were missed; only 15:00 runs.
    back = SLOT + dt.timedelta(hours=5, minutes=30)
    assert [o.slot for o in _worker(engine, "test_hourly", back).run_once()] == [SLOT + dt.timedelta(hours=5)]
    assert _worker(engine, "test_hourly", back).run_once() == []  # and once only
    assert [row["slot"] for row in _runs(engine, "test_hourly")] == [SLOT, SLOT + dt.timedelta(hours=5)]
    assert CALLS == [("test_hourly", SLOT), ("test_hourly", back)]


def test_each_run_is_audited_with_its_counts(engine):
    now = SLOT + dt.timedelta(minutes=20)
    (outcome,) = _worker(engine, "test_hourly", now).run_once()
    (entry,) = _audit(engine)
    assert (entry["actor"], entry["entity_type"], entry["entity_id"]) == ("scheduler", "job", outcome.run_id)
    assert entry["after"] == {
        "job": "test_hourly",
        "slot": "2026-11-25T10:00:00+00:00",
        "cause": "schedule",
        "attempts": 1,
        "status": "ok",
        "counts": {"seen": 7, "told": 2},  # "note" is not a whole number: not a count
        "error": None,
    }
    (row,) = _runs(engine, "test_hourly")
    assert (row["status"], row["counts"], row["finished_at"] is not None) == ("ok", {"seen": 7, "told": 2}, True)


def test_a_failed_run_keeps_its_error_and_the_next_slot_runs_as_usual(engine):
    (outcome,) = _worker(engine, "test_failing", SLOT).run_once()
    assert (outcome.status, outcome.error) == ("failed", "ValueError: the CRM said no")
    assert _worker(engine, "test_failing", SLOT + dt.timedelta(minutes=30)).run_once() == []  # not retried in its slot
    (next_one,) = _worker(engine, "test_failing", SLOT + dt.timedelta(hours=1)).run_once()
    assert next_one.slot == SLOT + dt.timedelta(hours=1)
    assert [entry["after"]["status"] for entry in _audit(engine)] == ["failed", "failed"]
    assert _audit(engine)[0]["after"]["error"] == "ValueError: the CRM said no"


SEEN: dict = {}


@job("test_slow", every="1h", help="test only: outlives its lease unless it is renewed")
def _slow(engine, config, now):
    time.sleep(1.6)  # past the 1 s lease: only the heartbeat keeps it
    SEEN["rival"] = scheduler.claim(engine, "test_slow", SLOT, "rival:9:z")
    return {"slept": 1}


def test_the_holder_keeps_its_lease_while_a_long_job_runs(engine, monkeypatch):
    monkeypatch.setenv(scheduler.LEASE_ENV, "1")
    (outcome,) = _worker(engine, "test_slow", SLOT).run_once()
    assert SEEN["rival"] is None
    assert (outcome.status, outcome.recorded) == ("ok", True)
