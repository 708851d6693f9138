"""The scheduled jobs for RevOps: each job's schedule, last run, next run and last error (as `truce jobs --json`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel, Field

from truce.web.api_common import api_router, settings, store
from truce.web.app import Caller, allowed

router = api_router(tags=["jobs"])
Operator = Annotated[Caller, Depends(allowed("read_jobs"))]


class RunOut(BaseModel):
    slot: dt.datetime = Field(description="The moment the schedule was due; a manual run's start")
    cause: str = Field(description="schedule, or manual (`truce jobs run`)")
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str = Field(description="running, ok, failed, or abandoned (running, but its holder stopped)")
    attempts: int = Field(description="1, plus one per takeover after a holder died")
    holder: str = Field(description="host:pid:random of the process that ran it")
    counts: dict[str, int]
    error: str | None


class ErrorSeenOut(BaseModel):
    slot: dt.datetime
    finished_at: dt.datetime | None
    error: str | None


class JobOut(BaseModel):
    name: str
    help: str
    schedule: str = Field(description='As [schedule] in truce.toml sets it, else the default; "off" never runs')
    default_schedule: str
    last_run: RunOut | None
    next_run: dt.datetime | None = Field(description="The slot it runs for next; in the past when it is due now")
    last_error: ErrorSeenOut | None


class JobsOut(BaseModel):
    jobs: list[JobOut]


@router.get("/jobs", summary="The scheduled jobs: schedule, last run, next run, last error", response_model=JobsOut)
def jobs(request: Request, who: Operator) -> dict:
    from truce.services.jobs.scheduler import status

    return {"jobs": status(store(request), settings(request))}
