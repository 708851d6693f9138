"""The jobs truce runs on a schedule, each a plain function over the store.

A job is `run(engine, config, now) -> dict[str, int]`: it does one round of its work in its own
units of work (each audited, each owing its notifications in the outbox) and returns its counts
("breaches": 3, "reminders": 12), which the scheduler records with the run. `now` is the slot's
clock, so tests and a simulated day can drive it. A job must be safe to run twice for the same
slot (a worker killed mid-run leaves the job to run again): claims and outbox keys make it so.

Modules that declare jobs are listed in JOB_MODULES; importing them registers their jobs.
TRUCE_JOB_MODULES (module names, comma-separated) adds more: a deployment's own jobs, or a test's.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from truce.config import TruceConfig

JobFunction = Callable[[Engine, TruceConfig, dt.datetime], dict[str, int]]

# One line per module that declares jobs with @job.
JOB_MODULES: list[str] = [
    "truce.services.jobs.builtin",
    "truce.services.sla_rules.jobs",
    "truce.services.meetings.due",
    "truce.services.discounts",
    "truce.services.notify.delivery",
    "truce.services.connectors.jobs",
    "truce.services.connectors.writeback_jobs",
]
EXTRA_MODULES_ENV = "TRUCE_JOB_MODULES"


@dataclass(frozen=True)
class Job:
    name: str
    run: JobFunction
    default_every: str  # "5m", "1h", "1d", or a cron expression "0 2 * * *"; [schedule] overrides
    help: str


_JOBS: dict[str, Job] = {}


def job(name: str, *, every: str, help: str) -> Callable[[JobFunction], JobFunction]:
    """Declare `fn` as the job `name`, run by default `every` (truce.toml [schedule] overrides)."""

    def declare(fn: JobFunction) -> JobFunction:
        if name in _JOBS and _JOBS[name].run is not fn:
            raise ValueError(f"two jobs are named {name!r}")
        _JOBS[name] = Job(name, fn, every, help)
        return fn

    return declare


def jobs() -> dict[str, Job]:
    """Every declared job, by name."""
    extra = [name.strip() for name in os.environ.get(EXTRA_MODULES_ENV, "").split(",") if name.strip()]
    for module in [*JOB_MODULES, *extra]:
        importlib.import_module(module)
    return dict(sorted(_JOBS.items()))
