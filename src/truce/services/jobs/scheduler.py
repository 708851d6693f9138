"""The scheduler: runs each declared job once per slot, under a lease in the database.

Any number of processes may run it on one store (`truce serve`, one or more `truce worker`s);
the database decides which of them runs a slot:

- **Claim.** A worker claims a job's slot by inserting its `job_runs` row; the unique (job, slot)
  key refuses a second row, so a slot is run once. The claim is a unit of work of its own,
  serialised per job (SQLite's single writer; a transaction-scoped advisory lock on PostgreSQL),
  and it refuses while another process holds a live lease on the same job: one process runs a
  given job at a given time, even when its runs overlap the next slot.
- **Lease.** The holder renews `lease_until` from a heartbeat thread, in short units of work of
  its own, while the job runs. A row still `running` past its lease was left by a process that
  died (kill -9, a lost machine); the next worker that finds that slot due takes the row over with
  a conditional UPDATE (`... WHERE status = 'running' AND lease_until < now`), which exactly one
  of several racing workers wins, and runs the job again. Jobs are written to be safe to re-run
  (claims, outbox keys), so nobody is told twice.
- **Missed slots.** Only the latest slot that has passed is ever due: after a night with every
  process down, a job runs once on start, not once per slot it missed.
- **Record.** Each finished run keeps its status, counts and error on its row, and one audit entry
  (`job_run`, entity `job`) with them.

Two clocks, on purpose. *Which slot is due* and the `now` a job is given come from the schedule
clock: the real time, or the moment written in the file TRUCE_CLOCK_FILE names (a testing aid:
a test moves a whole fleet of workers through a simulated day). *Leases* run on the real clock,
because they measure whether a process is still alive.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from truce.config import TruceConfig
from truce.domain import schedule as schedules
from truce.envvars import seconds_from
from truce.services.jobs.registry import Job, jobs
from truce.store.errors import StoreBusy
from truce.store.models import JobRun
from truce.store.work import unit_of_work

log = logging.getLogger("truce.jobs")

ACTOR = "scheduler"
CLOCK_ENV = "TRUCE_CLOCK_FILE"
LEASE_ENV = "TRUCE_JOB_LEASE_SECONDS"
POLL_ENV = "TRUCE_JOBS_POLL_SECONDS"
DEFAULT_LEASE = 60.0
DEFAULT_POLL = 5.0
ERROR_CHARS = 2000

Clock = Callable[[], dt.datetime]


class UnknownJob(ValueError):
    """No job has that name; the message lists the names there are."""


class JobBusy(RuntimeError):
    """Another process holds the job's lease right now."""


class ClockError(ValueError):
    """TRUCE_CLOCK_FILE names a file that does not hold a moment."""


# ---- clocks and names ----------------------------------------------------------------------------


def real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def file_clock(path: str | os.PathLike) -> Clock:
    """A clock that reads "now" from a file on every call: an ISO moment, UTC unless it names a zone."""

    def now() -> dt.datetime:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
            moment = dt.datetime.fromisoformat(text)
        except (OSError, ValueError) as exc:
            raise ClockError(f"{CLOCK_ENV}={path}: cannot read a moment from it ({exc})") from None
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)

    return now


def schedule_clock() -> Clock:
    """The real clock, or the file TRUCE_CLOCK_FILE names (tests and rehearsals only)."""
    path = os.environ.get(CLOCK_ENV)
    return file_clock(path) if path else real_now


def lease_seconds() -> float:
    return seconds_from(LEASE_ENV, DEFAULT_LEASE, 1, 3600)


def poll_seconds() -> float:
    """How often a worker looks for due jobs: TRUCE_JOBS_POLL_SECONDS, else every 5 seconds."""
    return seconds_from(POLL_ENV, DEFAULT_POLL, 0.05, 3600)


def holder_name() -> str:
    """host:pid:random — the random part tells apart two runs of one process id after a restart."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


def known_job(name: str) -> Job:
    declared = jobs()
    if name not in declared:
        raise UnknownJob(f"no job is called {name!r}; the jobs are: {', '.join(declared) or '(none)'}")
    return declared[name]


def schedule_of(config: TruceConfig, job: Job) -> schedules.Schedule:
    """The job's schedule: truce.toml's [schedule] entry for it, else the job's own default."""
    return schedules.parse(config.schedule.get(job.name, job.default_every))


# ---- what is due ---------------------------------------------------------------------------------


def _run_row(conn: Connection, name: str, slot: dt.datetime):
    return conn.execute(select(JobRun).where(JobRun.job == name, JobRun.slot == slot)).mappings().first()


def _live_run(conn: Connection, name: str, now: dt.datetime):
    """The job's run whose holder is alive (its lease not yet run out), if any."""
    query = select(JobRun).where(JobRun.job == name, JobRun.status == "running", JobRun.lease_until >= now)
    return conn.execute(query.order_by(JobRun.id.desc())).mappings().first()


def due(
    engine: Engine, config: TruceConfig, now: dt.datetime, names: Iterable[str] | None = None
) -> list[tuple[Job, dt.datetime]]:
    """(job, slot) for each job whose latest slot has passed and has not run, nor is running live."""
    zone, wanted, found = ZoneInfo(config.company.timezone), set(names) if names else None, []
    leases_now = real_now()
    with engine.connect() as conn:
        for job in jobs().values():
            if wanted is not None and job.name not in wanted:
                continue
            slot = schedules.latest_slot(schedule_of(config, job), now, zone)
            if slot is None:
                continue
            row = _run_row(conn, job.name, slot)
            if row is not None and (row["status"] != "running" or row["lease_until"] >= leases_now):
                continue
            if row is None and _live_run(conn, job.name, leases_now) is not None:
                continue
            found.append((job, slot))
    return found


# ---- claiming a slot -----------------------------------------------------------------------------


def _one_job_at_a_time(conn: Connection, name: str) -> None:
    """Serialise the claims on one job. SQLite already has (BEGIN IMMEDIATE); PostgreSQL needs a lock,
    or two workers could each see no live run and claim two different slots of the job at once."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(key)s)", {"key": zlib.crc32(f"truce.job:{name}".encode())})


def _abandon(work, name: str, slot: dt.datetime, leases_now: dt.datetime) -> None:
    """Older runs of the job whose holder died and whose slot a later one superseded: failed, on record."""
    stale = select(JobRun).where(
        JobRun.job == name, JobRun.status == "running", JobRun.lease_until < leases_now, JobRun.slot != slot
    )
    for row in work.conn.execute(stale).mappings().all():
        error = f"abandoned: its holder {row['holder']} stopped before it finished, and a later slot superseded it"
        work.conn.execute(
            update(JobRun)
            .where(JobRun.id == row["id"], JobRun.status == "running")
            .values(status="failed", finished_at=leases_now, error=error)
        )
        work.record("job_run", "job", row["id"], None, _audit(row, "failed", row["counts"], error))


def claim(
    engine: Engine, name: str, slot: dt.datetime, holder: str, *, cause: str = "schedule", lease: float | None = None
) -> int | None:
    """Claim the job's slot for `holder`; the run's id, or None when the slot is done or someone else has it."""
    lease = lease_seconds() if lease is None else lease
    try:
        with unit_of_work(engine, ACTOR, "job", wait=min(lease / 2, 10)) as work:
            conn, leases_now = work.conn, real_now()
            _one_job_at_a_time(conn, name)
            if _live_run(conn, name, leases_now) is not None:
                return None
            _abandon(work, name, slot, leases_now)
            held = {"holder": holder, "lease_until": leases_now + dt.timedelta(seconds=lease), "started_at": leases_now}
            row = _run_row(conn, name, slot)
            if row is not None:
                return _take_over(conn, row, held, leases_now)
            return _insert(conn, name, slot, cause, held)
    except StoreBusy:  # another process is claiming or writing: the next poll looks again
        return None


def _take_over(conn: Connection, row, held: dict, leases_now: dt.datetime) -> int | None:
    if row["status"] != "running":
        return None
    taken = conn.execute(
        update(JobRun)
        .where(JobRun.id == row["id"], JobRun.status == "running", JobRun.lease_until < leases_now)
        .values(**held, attempts=JobRun.attempts + 1)
    )
    if taken.rowcount != 1:
        return None
    log.warning("job %s: slot %s was left running by %s; taking it over", row["job"], row["slot"], row["holder"])
    return row["id"]


def _insert(conn: Connection, name: str, slot: dt.datetime, cause: str, held: dict) -> int | None:
    values = {"job": name, "slot": slot, "cause": cause, "attempts": 1, "status": "running", **held}
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    # The unique (job, slot) key is the last word: a second claim adds nothing.
    statement = dialect_insert(JobRun).values(values).on_conflict_do_nothing(index_elements=["job", "slot"])
    return conn.execute(statement.returning(JobRun.id)).scalar_one_or_none()


# ---- running a claimed slot ----------------------------------------------------------------------


@dataclass
class Outcome:
    run_id: int
    job: str
    slot: dt.datetime
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    recorded: bool = True  # False: the lease was lost (taken over) before the run finished

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "job": self.job,
            "slot": self.slot.isoformat(),
            "status": self.status,
            "counts": self.counts,
            "error": self.error,
            "recorded": self.recorded,
        }


class _Heartbeat(threading.Thread):
    """Renews the run's lease every third of it, each renewal its own short unit of work."""

    def __init__(self, engine: Engine, run_id: int, holder: str, lease: float):
        super().__init__(name=f"truce-lease-{run_id}", daemon=True)
        self.engine, self.run_id, self.holder, self.lease = engine, run_id, holder, lease
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.lease / 3):
            try:
                if not self._renew():
                    log.error("run %s: its lease was taken over by another worker", self.run_id)
                    return
            except Exception as exc:  # a busy or unreachable store: try again at the next beat
                log.warning("run %s: could not renew its lease (%s)", self.run_id, type(exc).__name__)

    def _renew(self) -> bool:
        with unit_of_work(self.engine, ACTOR, "job", wait=self.lease / 3) as work:
            renewed = work.conn.execute(
                update(JobRun)
                .where(JobRun.id == self.run_id, JobRun.holder == self.holder, JobRun.status == "running")
                .values(lease_until=real_now() + dt.timedelta(seconds=self.lease))
            )
            return renewed.rowcount == 1


def _counts(result) -> dict[str, int]:
    """A job's counts as the run keeps them: whole numbers by name (anything else is not a count)."""
    if not isinstance(result, dict):
        return {}
    return {str(k): v for k, v in result.items() if isinstance(v, int) and not isinstance(v, bool)}


def _audit(row, status: str, counts, error: str | None) -> dict:
    return {
        "job": row["job"],
        "slot": row["slot"].isoformat(),
        "cause": row["cause"],
        "attempts": row["attempts"],
        "status": status,
        "counts": counts or {},
        "error": error,
    }


def execute(
    engine: Engine,
    config: TruceConfig,
    job: Job,
    run_id: int,
    holder: str,
    now: dt.datetime,
    lease: float | None = None,
) -> Outcome:
    """Run a claimed slot with its lease renewed, then record how it went."""
    lease = lease_seconds() if lease is None else lease
    heartbeat = _Heartbeat(engine, run_id, holder, lease)
    heartbeat.start()
    try:
        counts, status, error = _counts(job.run(engine, config, now)), "ok", None
    except Exception as exc:  # a failed run is recorded, and the next slot runs as usual
        log.exception("job %s failed", job.name)
        counts, status, error = {}, "failed", f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
    finally:
        heartbeat.stopped.set()
        heartbeat.join()
    return finish(engine, run_id, holder, status, counts, error)


def finish(engine: Engine, run_id: int, holder: str, status: str, counts: dict, error: str | None) -> Outcome:
    """Record the run's end and audit it, if `holder` still holds it."""
    with unit_of_work(engine, ACTOR, "job") as work:
        row = work.conn.execute(select(JobRun).where(JobRun.id == run_id)).mappings().one()
        done = work.conn.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.holder == holder, JobRun.status == "running")
            .values(status=status, counts=counts, error=error, finished_at=real_now())
        )
        recorded = done.rowcount == 1
        if recorded:
            work.record("job_run", "job", run_id, None, _audit(row, status, counts, error))
        else:  # another worker took the slot over while this one stalled: its record stands
            log.error("job %s: run %s was taken over before it finished; not recording it", row["job"], run_id)
    return Outcome(run_id, row["job"], row["slot"], status, counts, error, recorded)


def run_now(engine: Engine, config: TruceConfig, name: str, clock: Clock | None = None) -> Outcome:
    """`truce jobs run NAME`: run the job now, in this process, under the same lease as a scheduled run."""
    job = known_job(name)
    now = (clock or schedule_clock())()
    holder = holder_name()
    run_id = claim(engine, name, now, holder, cause="manual")
    if run_id is None:
        raise JobBusy(f"{name} is running in another process right now; try again when it has finished")
    return execute(engine, config, job, run_id, holder, now)


# ---- the worker loop -----------------------------------------------------------------------------


class Worker:
    """Polls for due jobs and runs each claimed slot in a thread of its own, so a long job (the nightly
    score refresh) does not hold up a short one (the SLA sweep)."""

    def __init__(
        self,
        engine: Engine,
        config: TruceConfig,
        *,
        names: Iterable[str] | None = None,
        clock: Clock | None = None,
        poll: float | None = None,
    ):
        self.engine, self.config = engine, config
        self.poll = poll_seconds() if poll is None else poll
        self.names = list(names) if names else None
        self.clock = clock or schedule_clock()
        self.holder = holder_name()
        self.lease = lease_seconds()
        self.running: dict[str, threading.Thread] = {}
        self.outcomes: list[Outcome] = []
        self.stopped = threading.Event()

    def tick(self) -> int:
        """Claim and start every due slot this worker can have; how many it started."""
        self._forget_finished()
        now, started = self.clock(), 0
        for job, slot in due(self.engine, self.config, now, self.names):
            if job.name in self.running:
                continue
            run_id = claim(self.engine, job.name, slot, self.holder, lease=self.lease)
            if run_id is None:
                continue
            thread = threading.Thread(
                target=self._run, args=(job, run_id, now), name=f"truce-job-{job.name}", daemon=True
            )
            self.running[job.name] = thread
            thread.start()
            started += 1
        return started

    def _run(self, job: Job, run_id: int, now: dt.datetime) -> None:
        try:
            outcome = execute(self.engine, self.config, job, run_id, self.holder, now, self.lease)
            self.outcomes.append(outcome)
            log.info("job %s (slot %s): %s %s", job.name, outcome.slot.isoformat(), outcome.status, outcome.counts)
        except Exception:
            log.exception(
                "job %s: its run could not be recorded; its lease will run out and it will run again", job.name
            )

    def _forget_finished(self) -> None:
        for name in [name for name, thread in self.running.items() if not thread.is_alive()]:
            del self.running[name]

    def run_once(self) -> list[Outcome]:
        """Run what is due now, wait for it, and return how each run went (`truce worker --once`)."""
        self.tick()
        self.wait()
        return self.outcomes

    def wait(self, timeout: float | None = None) -> None:
        for thread in list(self.running.values()):
            thread.join(timeout)

    def run_forever(self) -> None:
        """Poll until stop() is called; a poll that fails is logged and the next one tries again."""
        while not self.stopped.is_set():
            try:
                self.tick()
            except Exception as exc:
                log.error("scheduler poll failed: %s", exc)
            self.stopped.wait(self.poll)

    def stop(self, wait: float | None = 30) -> None:
        """Stop polling; wait up to `wait` seconds for running jobs (an unfinished one runs again elsewhere)."""
        self.stopped.set()
        self.wait(wait)


def in_background(engine: Engine, config: TruceConfig, **options) -> Worker:
    """A Worker polling in a daemon thread (inside `truce serve`); call its stop() on shutdown."""
    worker = Worker(engine, config, **options)
    threading.Thread(target=worker.run_forever, name="truce-scheduler", daemon=True).start()
    return worker


# ---- what RevOps sees ----------------------------------------------------------------------------


def status(engine: Engine, config: TruceConfig, now: dt.datetime | None = None) -> list[dict]:
    """Every job: its schedule, its last run, when it runs next, its last error (`truce jobs`, GET /api/v1/jobs)."""
    now = now or schedule_clock()()
    zone, leases_now = ZoneInfo(config.company.timezone), real_now()
    with engine.connect() as conn:
        return [_job_status(conn, job, schedule_of(config, job), now, zone, leases_now) for job in jobs().values()]


def _job_status(conn: Connection, job: Job, plan: schedules.Schedule, now, zone, leases_now) -> dict:
    last = (
        conn.execute(select(JobRun).where(JobRun.job == job.name).order_by(JobRun.id.desc()).limit(1))
        .mappings()
        .first()
    )
    failed = (
        conn.execute(
            select(JobRun).where(JobRun.job == job.name, JobRun.status == "failed").order_by(JobRun.id.desc()).limit(1)
        )
        .mappings()
        .first()
    )
    next_run = _next_run(conn, job.name, plan, now, zone)
    return {
        "name": job.name,
        "help": job.help,
        "schedule": plan.text,
        "default_schedule": job.default_every,
        "last_run": _run_view(last, leases_now),
        "next_run": next_run,
        # A slot that has passed unrun (missed, or never run yet) runs as soon as a worker looks.
        "due_now": next_run is not None and next_run <= now,
        "last_error": {"slot": failed["slot"], "finished_at": failed["finished_at"], "error": failed["error"]}
        if failed
        else None,
    }


def _run_view(row, leases_now: dt.datetime) -> dict | None:
    if row is None:
        return None
    status = row["status"]
    if status == "running" and row["lease_until"] < leases_now:
        status = "abandoned"  # its holder stopped; the next worker that finds the slot due runs it again
    return {
        "slot": row["slot"],
        "cause": row["cause"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "status": status,
        "attempts": row["attempts"],
        "holder": row["holder"],
        "counts": row["counts"] or {},
        "error": row["error"],
    }


def _next_run(conn: Connection, name: str, plan: schedules.Schedule, now, zone) -> dt.datetime | None:
    """The slot it runs for next: the latest one when that has not run yet (due now), else the next one."""
    latest = schedules.latest_slot(plan, now, zone)
    if latest is not None:
        row = _run_row(conn, name, latest)
        if row is None or row["status"] == "running":
            return latest
    return schedules.next_slot(plan, now, zone)
