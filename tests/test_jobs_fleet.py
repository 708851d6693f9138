"""Two `truce worker` processes and a `truce serve` on one database, driven through a simulated day.

The schedule clock is a file all three read (TRUCE_CLOCK_FILE); the test moves it hour by hour
and waits for each slot's run. Only tests/jobs_for_tests.py's `fleet_tick` (hourly) notes its
executions in a log file: each slot must begin and end exactly once. Then the server stops, a
worker is killed (-9) in the middle of a run, and the other worker must run that slot again once
its lease runs out — without owing the slot's message a second time.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from truce import config as truce_config
from truce.store import db
from truce.store.models import JobRun, OutboxMessage

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parent.parent
START = dt.datetime(2026, 11, 23, 0, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
LEASE_SECONDS = 2
WAIT = 30.0
# Hours of the simulated day the clock is set to. From 10:00 it jumps to 13:00: the 11:00 and
# 12:00 slots are missed and only 13:00 runs. 24 is midnight of the next day.
HOURS = [*range(0, 11), *range(13, 25)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _set_clock(path: Path, moment: dt.datetime) -> None:
    part = path.with_suffix(".part")
    part.write_text(moment.isoformat(), encoding="utf-8")
    os.replace(part, path)  # whole or not at all: a reader never sees half a moment


def _lines(log: Path) -> list[tuple[str, str, int]]:
    if not log.exists():
        return []
    return [(kind, moment, int(pid)) for kind, moment, pid in (line.split() for line in log.read_text().splitlines())]


def _until(what, check, seconds: float = WAIT):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _run_of(engine, slot: dt.datetime):
    with engine.connect() as conn:
        return conn.execute(select(JobRun).where(JobRun.job == "fleet_tick", JobRun.slot == slot)).mappings().first()


def _done(engine, slot):
    row = _run_of(engine, slot)
    return row if row is not None and row["status"] == "ok" else None


@pytest.fixture
def fleet(database_url, tmp_path):
    clock, log, hold, config = tmp_path / "clock", tmp_path / "runs.log", tmp_path / "hold", tmp_path / "truce.toml"
    _set_clock(clock, START)
    config.write_text(
        truce_config.default_text() + '\n[schedule]\nscore_refresh = "off"\nweekly_brief = "off"\n', encoding="utf-8"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
        "TRUCE_JOB_MODULES": "jobs_for_tests",
        "TRUCE_CLOCK_FILE": str(clock),
        "TRUCE_CONFIG": str(config),
        "TRUCE_JOBS_POLL_SECONDS": "0.1",
        "TRUCE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "TRUCE_TEST_JOB_LOG": str(log),
        "TRUCE_TEST_JOB_HOLD": str(hold),
    }
    truce = [sys.executable, "-c", "from truce.cli import main; main()"]
    port = _free_port()
    processes = {
        "worker_a": subprocess.Popen([*truce, "worker", "--db", database_url], env=env, stderr=subprocess.DEVNULL),
        "worker_b": subprocess.Popen([*truce, "worker", "--db", database_url], env=env, stderr=subprocess.DEVNULL),
        "serve": subprocess.Popen(
            [*truce, "serve", "--port", str(port), "--db", database_url],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    }  # fmt: skip
    engine = db.connect(database_url)
    try:
        _until("the server", lambda: _healthy(port))
        yield engine, clock, log, hold, processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        engine.dispose()


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_two_workers_and_a_server_run_each_slot_once_and_a_killed_run_again(fleet):
    engine, clock, log, hold, processes = fleet
    slots = [START + hour * HOUR for hour in HOURS]
    for slot in slots:
        _set_clock(clock, slot)
        _until(f"the run of {slot}", lambda slot=slot: _done(engine, slot))
    time.sleep(0.5)  # room for a late second run, which must not come
    begun = [moment for kind, moment, _ in _lines(log) if kind == "begin"]
    assert sorted(begun) == [slot.isoformat() for slot in slots]  # each slot once, 11:00 and 12:00 not at all
    with engine.connect() as conn:
        rows = conn.execute(select(JobRun.slot, JobRun.status, JobRun.attempts).where(JobRun.job == "fleet_tick")).all()
    assert sorted(rows) == [(slot, "ok", 1) for slot in slots]

    # The server stops (uvicorn ends the process with the SIGTERM it caught, once it has shut down);
    # then a worker is killed in the middle of the next slot's run.
    processes["serve"].send_signal(signal.SIGTERM)
    assert processes["serve"].wait(timeout=WAIT) in (0, -signal.SIGTERM)
    hold.touch()
    crash = START + 25 * HOUR
    _set_clock(clock, crash)
    first = _until(
        "a worker to begin", lambda: [pid for kind, moment, pid in _lines(log) if moment == crash.isoformat()]
    )
    victim = next(name for name, process in processes.items() if process.pid == first[0])
    assert victim in ("worker_a", "worker_b")
    processes[victim].kill()
    processes[victim].wait()
    hold.unlink()
    row = _until("the other worker to take the slot over", lambda: _done(engine, crash), seconds=WAIT)
    assert row["attempts"] == 2
    crashed = [(kind, pid) for kind, moment, pid in _lines(log) if moment == crash.isoformat()]
    survivor = next(process.pid for name, process in processes.items() if name not in (victim, "serve"))
    assert crashed == [("begin", first[0]), ("begin", survivor), ("end", survivor)]
    with engine.connect() as conn:
        owed = conn.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.key == f"fleet_tick:{crash.isoformat()}")
        ).scalar_one()
    assert owed == 1  # the killed run owed it; the run that took over did not owe it again

    remaining = processes["worker_a" if victim == "worker_b" else "worker_b"]
    remaining.send_signal(signal.SIGTERM)
    assert remaining.wait(timeout=WAIT) == 0
