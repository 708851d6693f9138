"""`truce serve`: the web app and REST API."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Annotated

import typer

from truce.cli.common import ConfigOption, DbOption, console, handled, load_config, open_store

# How long the supervisor waits for a worker to answer its ping before killing it as hung. uvicorn's
# 5 s kills a worker that is only busy: a 100,000-contact brief holds the interpreter for longer on
# a loaded machine, and killing it drops its connections and its computed reports (bench/serve_load.py).
HEALTHCHECK_SECONDS = 60


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on. Keep 127.0.0.1 unless a proxy fronts it.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    db: DbOption = None,
    config: ConfigOption = None,
    no_jobs: Annotated[
        bool,
        typer.Option("--no-jobs", help="Do not run the scheduled jobs here (run `truce worker` elsewhere instead)."),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Processes answering requests on the one port (about one per core). The jobs run once, in the process that starts them.",
        ),
    ] = 1,
) -> None:
    """Serve the web app both teams log into, and the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json).

    Add people with `truce user add`, API tokens with `truce token create`. The scheduled jobs (`truce jobs`) run in the background unless --no-jobs; other servers and workers on the same database share them, each slot run once. With --workers N, N processes share the port; every process serves the store's newest funnel config within a second of an edit (docs/deploy.md).

    Example:  truce serve --port 8000 --workers 2
    """
    import uvicorn

    from truce.services.funnel_config import config_file, in_force
    from truce.web import server
    from truce.web.app import create_app

    with handled():
        loaded = load_config(config)
        store = open_store(db)
        loaded = in_force(store, loaded)
    max_body = loaded.serve.max_request_megabytes << 20
    console.print(f"truce is serving on http://{host}:{port}/  (API: http://{host}:{port}/api/v1/docs)")
    console.print(f"RevOps' funnel edits are saved in the store and to {config_file(loaded)}")
    if workers == 1:
        app = create_app(store, loaded, max_body_bytes=max_body)
        settings = uvicorn.Config(app, host=host, port=port, log_level="warning", http=server.protocol(loaded.serve))
    else:
        _hand_down(db, loaded, max_body)
        settings = uvicorn.Config(
            server.FACTORY, factory=True, workers=workers, host=host, port=port, log_level="warning",
            http=server.HTTP_FROM_ENV, timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
        )  # fmt: skip
        console.print(f"{workers} worker processes answer requests")
    background = None if no_jobs else _jobs_in_background(store, loaded)
    _run(settings, background)


def _hand_down(db: str | None, loaded, max_body: int) -> None:
    """Tell the worker processes (which inherit this environment) which store and truce.toml to serve,
    as every truce command reads them."""
    import os

    from truce.web import server

    if db:
        os.environ["TRUCE_DATABASE_URL"] = db
    if loaded.source_path and os.path.isfile(loaded.source_path):
        os.environ["TRUCE_CONFIG"] = os.path.abspath(loaded.source_path)
    os.environ[server.MAX_BODY_ENV] = str(max_body)


def _run(settings, background) -> None:
    """uvicorn's server, stopping the background jobs once it has shut down: before uvicorn ends the
    process with the signal it caught, a job in flight gets 10 s to finish and be recorded."""
    import uvicorn

    if settings.workers > 1:
        _run_workers(settings, background)
        return

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self):
            with super().capture_signals():
                try:
                    yield
                finally:
                    if background is not None:
                        background.stop(wait=10)

    Server(settings).run()


def _run_workers(settings, background) -> None:
    """uvicorn's supervisor: it starts the worker processes on one socket, restarts one that dies,
    and on a signal stops them all; the jobs, in this process, stop after them."""
    from uvicorn.supervisors import Multiprocess

    socket = settings.bind_socket()
    try:
        Multiprocess(settings, sockets=[socket]).run()
    finally:
        socket.close()
        if background is not None:
            background.stop(wait=10)


def _jobs_in_background(store, loaded):
    import logging

    from truce.services.jobs import scheduler

    logging.getLogger("truce.jobs").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    console.print("Scheduled jobs run here too (--no-jobs to leave them to `truce worker`)")
    worker = scheduler.in_background(store, loaded)
    threading.Thread(target=_jobs_follow_the_funnel, args=(store, worker), name="truce-funnel", daemon=True).start()
    return worker


def _jobs_follow_the_funnel(store, worker) -> None:
    """Keep the jobs on the store's newest funnel config, as the web workers are (truce.web.app.FunnelWatch):
    an edit made through any server reaches the SLA sweep within a second."""
    import logging

    from truce.config import ConfigError
    from truce.services.funnel_config import RECHECK_SECONDS, in_force

    while not worker.stopped.wait(RECHECK_SECONDS):
        try:
            worker.config = in_force(store, worker.config)
        except Exception as exc:  # a store that is away for a moment: the jobs keep the funnel they have
            level = logging.ERROR if isinstance(exc, ConfigError) else logging.WARNING
            logging.getLogger("truce.jobs").log(level, "cannot read the funnel config in force: %s", exc)
