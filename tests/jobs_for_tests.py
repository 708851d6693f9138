"""A job that exists only in tests: it records each execution, so a test can count them.

Listed through TRUCE_JOB_MODULES=jobs_for_tests (with tests/ on PYTHONPATH) for the `truce worker`
and `truce serve` processes of tests/test_jobs_fleet.py, or imported by a test in process.

- TRUCE_TEST_JOB_LOG: a file it appends "begin NOW PID" and "end NOW PID" to;
- TRUCE_TEST_JOB_HOLD: while this file exists the job waits between the two lines (a test kills
  the process holding it);
- it owes one outbox message per `now`, keyed, before it waits: a re-run must not owe it again.
"""

from __future__ import annotations

import os
import time

from truce.services.jobs.registry import job
from truce.services.notify import owe
from truce.store.work import unit_of_work

HOLD_AT_MOST = 60.0


def _note(line: str) -> None:
    path = os.environ.get("TRUCE_TEST_JOB_LOG")
    if not path:
        return
    handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(handle, (line + "\n").encode())  # one write with O_APPEND: lines never interleave
    finally:
        os.close(handle)


@job("fleet_tick", every="1h", help="test only: notes each execution, owes one keyed message")
def fleet_tick(engine, config, now):
    _note(f"begin {now.isoformat()} {os.getpid()}")
    with unit_of_work(engine, "scheduler", "job") as work:
        owed = owe(
            work.conn, "brief_ready", to_user_id=None, subject="tick", text="tick", key=f"fleet_tick:{now.isoformat()}"
        )
    hold, started = os.environ.get("TRUCE_TEST_JOB_HOLD"), time.monotonic()
    while hold and os.path.exists(hold) and time.monotonic() - started < HOLD_AT_MOST:
        time.sleep(0.05)
    _note(f"end {now.isoformat()} {os.getpid()}")
    return {"ticks": 1, "owed": 1 if owed is not None else 0}
