"""Scheduled jobs: `truce worker` runs them, `truce jobs` shows them, `truce jobs run NAME` runs one now."""

from __future__ import annotations

from typing import Annotated

import typer

from truce.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    config_and_store,
    console,
    errors,
    fail,
    handled,
    print_json,
)

BUSY_EXIT = 75  # as truce.cli.BUSY_EXIT: the same command later will work
USAGE_EXIT = 2

jobs_app = typer.Typer(
    help="The recurring jobs: their schedule, last run, next run and last error; run one now.",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")


def _known(names: list[str]) -> None:
    """One line naming the jobs there are when a name is not one of them (a usage error)."""
    from truce.services.jobs.registry import jobs

    declared = jobs()
    for name in names:
        if name not in declared:
            fail(f"no job is called {name!r}; the jobs are: {', '.join(declared) or '(none)'}", code=USAGE_EXIT)


def _store(config: str | None, db: str | None):

    with handled():
        return config_and_store(config, db)


def _logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def worker(
    once: Annotated[bool, typer.Option("--once", help="Run what is due now, wait for it, and exit.")] = False,
    only: Annotated[
        str | None,
        typer.Option("--jobs", metavar="NAME,...", help="Run only these jobs (comma-separated). Default: all."),
    ] = None,
    poll: Annotated[
        float | None,
        typer.Option(
            "--poll",
            min=0.05,
            max=3600,
            help="Seconds between looks for due jobs. Default: $TRUCE_JOBS_POLL_SECONDS, else 5.",
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Run the scheduled jobs until stopped (SIGTERM or Ctrl-C), apart from `truce serve`.

    Any number of workers and servers may share one database: each slot of each job runs once, under a lease in the database (docs/jobs.md). A job missed while nothing was running runs once on start.

    Example:  truce worker --jobs sla_sweep,notify_deliver
    """
    import signal

    from truce.services.jobs.scheduler import Worker

    names = [name.strip() for name in only.split(",") if name.strip()] if only else None
    _known(names or [])
    loaded, engine = _store(config, db)
    _logging()
    running = Worker(engine, loaded, names=names, poll=poll)
    if once:
        _show_outcomes([outcome.as_dict() for outcome in running.run_once()], json)
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: running.stopped.set())
    errors.print(
        f"truce worker: running {', '.join(names) if names else 'every job'}; every {running.poll:g} s", highlight=False
    )
    running.run_forever()
    running.stop(wait=30)


def _show_outcomes(outcomes: list[dict], json: bool) -> None:
    if json:
        print_json({"runs": outcomes}, report="JobRuns")
    elif not outcomes:
        console.print("Nothing was due.")
    for outcome in [] if json else outcomes:
        counts = ", ".join(f"{k} {v}" for k, v in outcome["counts"].items()) or "no counts"
        console.print(f"{outcome['job']} (slot {outcome['slot']}): {outcome['status']} — {counts}", highlight=False)
        if outcome["error"]:
            console.print(f"  {outcome['error']}", highlight=False)
    if any(outcome["status"] != "ok" for outcome in outcomes):
        raise typer.Exit(1)


@jobs_app.callback()
def jobs(
    ctx: typer.Context,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """List the jobs: schedule, last run (slot, start, finish, status, counts), next run, last error.

    Example:  truce jobs --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from truce.services.jobs import scheduler

    loaded, engine = _store(config, db)
    with handled():
        try:
            listed = scheduler.status(engine, loaded)
        except scheduler.ClockError as exc:
            fail(str(exc))
    if json:
        print_json({"jobs": listed}, report="Jobs")
        return
    _show_jobs(listed)


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "—"


def _show_jobs(listed: list[dict]) -> None:
    """One narrow row per job (it fits 80 columns), then each job's last counts and last error in words."""
    from rich.table import Table

    table = Table(title="Scheduled jobs (times in UTC)", title_justify="left")
    table.add_column("job", no_wrap=True)
    table.add_column("schedule", no_wrap=True)
    table.add_column("last run", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("next run", no_wrap=True)
    for item in listed:
        last = item["last_run"] or {}
        table.add_row(
            item["name"],
            item["schedule"],
            _short(last.get("finished_at") or last.get("started_at")),
            last.get("status", "never run"),
            _next(item),
        )
    console.print(table)
    for item in listed:
        last, error = item["last_run"] or {}, item["last_error"]
        if last.get("counts"):
            counts = ", ".join(f"{k} {v}" for k, v in last["counts"].items())
            console.print(f"{item['name']}, slot {_when(last.get('slot'))}: {counts}", highlight=False)
        if error:
            console.print(
                f"[red]{item['name']} failed at {_when(error['finished_at'])}: {error['error']}[/]", highlight=False
            )


def _next(item: dict) -> str:
    if item["schedule"] == "off":
        return "off"
    return "due now" if item["due_now"] else _short(item["next_run"])


def _short(moment) -> str:
    return moment.strftime("%m-%d %H:%M") if moment is not None else "—"


@jobs_app.command("run")
def run(
    name: Annotated[
        str, typer.Argument(help="The job to run, as `truce jobs` lists it.", metavar="NAME", show_default=False)
    ],
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Run one job now, in this process, under the same lease as a scheduled run, and print its counts.

    The run is recorded and audited like a scheduled one; its slot is this moment. Refused (exit 75) while another process runs the same job.

    Example:  truce jobs run score_refresh
    """
    from truce.services.jobs import scheduler

    _known([name])
    loaded, engine = _store(config, db)
    _logging()
    try:
        outcome = scheduler.run_now(engine, loaded, name)
    except scheduler.JobBusy as exc:
        fail(str(exc), code=BUSY_EXIT)
    except scheduler.ClockError as exc:
        fail(str(exc))
    _show_outcomes([outcome.as_dict()], json)
