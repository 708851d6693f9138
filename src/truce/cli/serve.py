"""`truce serve`: the web app and REST API."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated

import typer

from truce.cli.common import ConfigOption, DbOption, console, handled, load_config, open_store


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
) -> None:
    """Serve the web app both teams log into, and the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json).

    Add people with `truce user add`, API tokens with `truce token create`. The scheduled jobs (`truce jobs`) run in the background unless --no-jobs; other servers and workers on the same database share them, each slot run once.

    Example:  truce serve --port 8000
    """
    import uvicorn

    from truce.web import server
    from truce.web.app import create_app

    with handled():
        loaded = load_config(config)
        store = open_store(db)
    app = create_app(store, loaded, max_body_bytes=loaded.serve.max_request_megabytes << 20)
    console.print(f"truce is serving on http://{host}:{port}/  (API: http://{host}:{port}/api/v1/docs)")
    console.print(f"RevOps' funnel edits are saved to {app.state.config_path}")
    background = None if no_jobs else _jobs_in_background(store, loaded)
    settings = uvicorn.Config(app, host=host, port=port, log_level="warning", http=server.protocol(loaded.serve))
    _run(settings, background)


def _run(settings, background) -> None:
    """uvicorn's server, stopping the background jobs once it has shut down: before uvicorn ends the
    process with the signal it caught, a job in flight gets 10 s to finish and be recorded."""
    import uvicorn

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


def _jobs_in_background(store, loaded):
    import logging

    from truce.services.jobs import scheduler

    logging.getLogger("truce.jobs").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    console.print("Scheduled jobs run here too (--no-jobs to leave them to `truce worker`)")
    return scheduler.in_background(store, loaded)
