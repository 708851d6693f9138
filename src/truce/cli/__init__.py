"""The `truce` command: a thin skin over the services. Heavy libraries load only when a command runs."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from truce import __version__
from truce.cli import (
    accounts,
    attribution,
    brief,
    connectors,
    data,
    discounts,
    economics,
    feedback,
    funnel,
    handoff,
    jobs,
    lead,
    meetings,
    metrics,
    notify,
    score,
    serve,
    start,
    store,
    survey,
    users,
)
from truce.cli import targets as target_commands


class _Truce(TyperGroup):
    """Every command: a store too busy to take a write is one line and exit 75 (try again later), not a traceback."""

    def __init__(self, *args, **kwargs):
        from truce.cli.common import finish_commands

        super().__init__(*args, **kwargs)
        finish_commands(self, self.context_settings.get("help_option_names", ["--help"]))

    def get_params(self, ctx):
        # Typer adds --install-completion and --show-completion after the tree is built: flags too.
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        return params

    def invoke(self, ctx):
        from truce.cli.common import console
        from truce.store.errors import StoreBusy

        console.wide = False  # until this command's --wide says otherwise

        try:
            return super().invoke(ctx)
        except StoreBusy as exc:
            from truce.cli.common import fail

            fail(str(exc), code=BUSY_EXIT)


BUSY_EXIT = 75  # EX_TEMPFAIL: a temporary failure; the same command later will work

app = typer.Typer(
    cls=_Truce,
    name="truce",
    help=(
        "truce — the shared revenue system for sales and marketing.\n\n"
        "One shared database, a funnel both teams signed, and numbers both trust.\n\n"
        "Start here:  truce demo   (builds a realistic demo company into ./truce.db)"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"truce {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    pass


start.register(app)
store.register(app)
data.register(app)
funnel.register(app)
score.register(app)
handoff.register(app)
lead.register(app)
economics.register(app)
attribution.register(app)
feedback.register(app)
accounts.register(app)
metrics.register(app)
survey.register(app)
brief.register(app)
users.register(app)
serve.register(app)
target_commands.register(app)
jobs.register(app)
meetings.register(app)
discounts.register(app)
notify.register(app)
connectors.register(app)


def main() -> None:
    app()
