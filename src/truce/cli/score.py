"""The MQL score: `truce score explain EMAIL` and `truce score refresh`."""

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
    in_calendar,
    print_json,
)

score_app = typer.Typer(
    help="The MQL score from truce.toml: every point behind one lead's, or all of them recomputed.",
    no_args_is_help=True,
)

# Below this many contacts a refresh is over before a progress bar would be worth drawing.
BIG = 50_000


def register(app: typer.Typer) -> None:
    app.add_typer(score_app, name="score")


def _parse_at(at: str | None):
    import datetime as dt

    if at is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        fail(f"--at {at!r} is not a date or time; use e.g. 2026-11-23 or 2026-11-23T09:30:00+01:00")
    in_calendar("--at", moment.date())
    # A time without a zone is UTC, the zone the store keeps and the sentences show.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@score_app.command("explain")
def explain(
    email: Annotated[str, typer.Argument(help="The contact's email address.", metavar="EMAIL", show_default=False)],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            "--as-of",
            help="Score as of this moment (ISO date or time; UTC unless it names a zone). Default: now.",
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Show every point behind a lead's score: each fit rule, met or not, and each touch with its decay.

    The score is computed afresh from truce.toml and the touchpoints; nothing is written.

    Example:  truce score explain ann.fischer@acme.example --at 2026-11-23
    """
    from truce.services import scoring
    from truce.services.lifecycle import NotFound

    moment = _parse_at(at)
    with handled():
        loaded, engine = config_and_store(config, db)
        try:
            result = scoring.explain(engine, loaded, email, now=moment)
        except NotFound as exc:
            fail(str(exc))
    if json:
        print_json(result, report="ScoreExplained")
        return
    _show_explanation(result)


def _show_explanation(result: dict) -> None:
    from rich.table import Table

    from truce.cli.common import moment

    table = Table(title=f"Score of {result['email']} ({result['stage']}) at {moment(result['at'])}")
    table.add_column("kind")
    table.add_column("every point, and why")
    table.add_column("points", justify="right")
    for item in result["items"]:
        table.add_row(item["kind"], item["sentence"], f"{item['points']:.2f}", style="" if item["points"] else "dim")
    table.add_section()
    table.add_row("fit", "sum of the fit rules met", f"{result['fit_points']:.2f}")
    table.add_row(
        "engagement",
        f"sum of the touches, halving every {result['half_life_days']:g} days",
        f"{result['engagement_points']:.2f}",
    )
    table.add_row(
        "[bold]score[/]", f"{result['exact']:.2f} rounded to the nearest point", f"[bold]{result['score']}[/]"
    )
    console.print(table)
    verdict = "[green]reaches[/]" if result["would_be_mql"] else "is below"
    console.print(f"Score {result['score']} {verdict} the MQL threshold of {result['threshold']}.")
    if result["stored_score"] is not None and result["stored_score"] != result["score"]:
        console.print(f"Stored score: {result['stored_score']}, computed {moment(result['scored_at'])}.")


@score_app.command("refresh")
def refresh(db: DbOption = None, config: ConfigOption = None, json: JsonOption = False) -> None:
    """Recompute every contact's score now; inquiries that reach the threshold become MQLs.

    Engagement points decay every day, so run it daily (cron) as well as after editing [scoring].

    Example:  truce score refresh --db postgresql://truce@localhost/truce
    """
    from truce.domain.lifecycle import IllegalMove
    from truce.services import scoring

    with handled():
        loaded, engine = config_and_store(config, db)
        try:
            with _progress(json) as advance:
                result = scoring.refresh(engine, loaded, progress=advance)
        except IllegalMove as exc:
            fail(f"cannot move a lead that reached the threshold: {exc}")
    if json:
        print_json(result, report="ScoresRefreshed")
        return
    console.print(
        f"Scored {result['scored']:,} contacts ({result['changed']:,} changed). "
        f"Newly at or over the threshold of {result['threshold']}: {result['crossed']:,}. "
        f"Inquiries moved to {loaded.funnel.handoff_stage}: {result['moved_to_mql']:,}."
    )


def _progress(quiet: bool):
    from contextlib import ExitStack, contextmanager

    @contextmanager
    def bar():
        if quiet:
            yield None
            return
        with ExitStack() as stack:
            state: dict = {}

            def advance(done: int, total: int) -> None:
                if "task" not in state:
                    if total < BIG:
                        state["task"] = None
                        return
                    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                    progress = stack.enter_context(
                        Progress(
                            TextColumn("scoring"),
                            BarColumn(),
                            MofNCompleteColumn(),
                            TimeRemainingColumn(),
                            console=errors,
                            transient=True,
                        )
                    )
                    state["progress"], state["task"] = progress, progress.add_task("score", total=total)
                if state["task"] is not None:
                    state["progress"].update(state["task"], completed=done, total=total)

            yield advance

    return bar()
