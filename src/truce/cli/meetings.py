"""The joint meeting kept: `truce meeting start|show|decide`, `truce decisions [done|drop]`,
`truce initiative adopt` and `truce initiatives`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated

import typer

from truce.cli.common import ConfigOption as ConfigOpt
from truce.cli.common import DbOption, JsonOption, config_and_store, console, fail, handled, print_json

meeting_app = typer.Typer(
    help="The joint revenue meeting: opened from the brief, its agenda the brief's decisions needed.",
    no_args_is_help=True,
)
decisions_app = typer.Typer(
    help="The meetings' decisions, tracked to done: list them, mark one done, or drop it with a note.",
    invoke_without_command=True,
)
initiative_app = typer.Typer(
    help="Adopt a move of the diagnostic's playbook as a tracked initiative.", no_args_is_help=True
)
ActorOption = Annotated[
    str | None, typer.Option("--as", help="Who you are (email). Default: $TRUCE_USER.", show_default=False)
]
PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period", help="The brief period: an ISO week (2026-W49), month, quarter or year. Default: this week."
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(meeting_app, name="meeting")
    app.add_typer(decisions_app, name="decisions")
    app.add_typer(initiative_app, name="initiative")
    app.command("initiatives")(initiatives)


def _actor(actor: str | None) -> str | None:
    return actor or os.environ.get("TRUCE_USER")


def _run(action: Callable):
    """The service's refusals as one line: the field and what to change (exit 2), who may (exit 1)."""
    from truce.services.lifecycle import NotFound
    from truce.services.meetings import DecisionConflict, MeetingRefused, NotYours

    try:
        return action()
    except MeetingRefused as exc:
        fail(f"--{exc.field.replace('_', '-')}: {exc.message}" if exc.field != "item" else exc.message, code=2)
    except (NotYours, DecisionConflict, NotFound) as exc:
        fail(str(exc))


def _decision_line(d: dict) -> str:
    from rich.markup import escape

    overdue = " [red]overdue[/]" if d["overdue"] else ""
    return (
        f"#{d['id']} {escape('[' + d['state'] + ']')}{overdue} {escape(d['text'])} — {escape(d['owner'])}, due {d['due_on']}, "
        f"moves {d['indicator']}"
    )


@meeting_app.command("start")
def start(
    period: PeriodOption = None,
    attendee: Annotated[
        list[str] | None, typer.Option("--attendee", metavar="EMAIL", help="Someone at the meeting (repeat).")
    ] = None,
    actor: ActorOption = None,
    config: ConfigOpt = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Open the joint meeting of a brief period, its agenda the brief's decisions needed; starting it again returns the same meeting.

    Example:  truce meeting start --period 2026-W49 --attendee eva.lind@truce-demo.example --attendee mia.ross@truce-demo.example --as owen.price@truce-demo.example
    """
    from truce.services.meetings import start_meeting

    with handled():
        settings, engine = config_and_store(config, db)
        meeting = _run(
            lambda: start_meeting(engine, settings, period=period, attendees=attendee or [], actor=_actor(actor))
        )
    _print_meeting(meeting, json)


@meeting_app.command("show")
def show(period: PeriodOption = None, config: ConfigOpt = None, db: DbOption = None, json: JsonOption = False) -> None:
    """The meeting of a period: attendees, the agenda and the decisions recorded on it.

    Example:  truce meeting show --period 2026-W49 --json
    """
    from truce.services.meetings import show_meeting

    with handled():
        settings, engine = config_and_store(config, db)
        meeting = _run(lambda: show_meeting(engine, settings, period=period))
    _print_meeting(meeting, json)


def _print_meeting(meeting: dict, json: bool) -> None:
    if json:
        print_json(meeting, report="Meeting")
        return
    from rich.markup import escape

    people = ", ".join(a["email"] for a in meeting["attendees"]) or "nobody yet"
    console.print(
        f"Joint meeting {meeting['period']} (held {meeting['held_at']:%Y-%m-%d %H:%M} UTC) · {escape(people)}"
    )
    for item in meeting["agenda"]:
        console.print(
            f"  {item['item']}. {escape('[' + (item['owner_team'] or '-') + ']')} {escape(item['text'])}"
        )  # wrapped at word boundaries, so an email or a figure is never cut
    if not meeting["agenda"]:
        console.print("  The brief called for no decision.")
    for d in meeting["decisions"]:
        console.print("  " + _decision_line(d))


@meeting_app.command("decide")
def decide(
    item: Annotated[
        int | None, typer.Argument(help="The agenda item's number (omit with --text for a decision of its own).")
    ] = None,
    text: Annotated[
        str | None, typer.Option("--text", help="What was decided. Default: the agenda item's text.")
    ] = None,
    owner: Annotated[str | None, typer.Option("--owner", metavar="EMAIL", help="Who does it.")] = None,
    due: Annotated[
        str | None, typer.Option("--due", metavar="DATE", help="When it is due: YYYY-MM-DD, or +4d / +2w from today.")
    ] = None,
    indicator: Annotated[
        str | None,
        typer.Option(
            "--indicator", metavar="KEY", help="The indicator it should move, e.g. mql_acceptance_rate. Required."
        ),
    ] = None,
    period: PeriodOption = None,
    actor: ActorOption = None,
    config: ConfigOpt = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Record a decision of the meeting: an owner from either team, a due date and the indicator it should move.

    Example:  truce meeting decide 1 --text "Marketing answers every waiting item by Friday" --owner mia.ross@truce-demo.example --due +4d --indicator feedback.answered_share --period 2026-W49 --as owen.price@truce-demo.example
    Example:  truce meeting decide --text "Sales calls every MQL from the webinar within a day" --owner eva.lind@truce-demo.example --due +11d --indicator sla_compliance.sales --period 2026-W49 --as owen.price@truce-demo.example
    """
    from truce.services.meetings import record_decision

    if item is None and not text:
        fail("name an agenda item (its number) or say what was decided with --text", code=2)
    with handled():
        settings, engine = config_and_store(config, db)
        decided = _run(
            lambda: record_decision(
                engine, settings, period=period, item=item, text_=text, owner=owner, due=due,
                indicator=indicator, actor=_actor(actor),
            )
        )  # fmt: skip
    if json:
        print_json(decided, report="Decision")
        return
    console.print(f"decision {_decision_line(decided)}", soft_wrap=True)


@decisions_app.callback()
def decisions(
    ctx: typer.Context,
    open_: Annotated[bool, typer.Option("--open", help="Only open decisions (the default).")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every decision, done and dropped too.")] = False,
    owner: Annotated[str | None, typer.Option("--owner", metavar="EMAIL", help="Only this owner's.")] = None,
    config: ConfigOpt = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """The meetings' decisions, soonest due first, overdue ones marked; `done` and `drop` close one.

    Example:  truce decisions --owner mia.ross@truce-demo.example --json
    """
    if ctx.invoked_subcommand is not None:
        return
    if open_ and all_:
        fail("--open and --all exclude each other", code=2)
    from truce.services.meetings import list_decisions

    with handled():
        settings, engine = config_and_store(config, db)
        rows = _run(lambda: list_decisions(engine, settings, state="all" if all_ else "open", owner=owner))
    if json:
        print_json(rows, report="Decision")
        return
    for d in rows:
        console.print(_decision_line(d), soft_wrap=True)
    if not rows:
        console.print("No decision to show.")


def _close(decision_id: int, state: str, note: str | None, actor, config, db, json: bool) -> None:
    from truce.services.meetings import close_decision

    with handled():
        settings, engine = config_and_store(config, db)
        closed = _run(
            lambda: close_decision(engine, settings, decision_id, state=state, note=note, actor=_actor(actor))
        )
    if json:
        print_json(closed, report="Decision")
        return
    console.print(_decision_line(closed), soft_wrap=True)


@decisions_app.command("done")
def done(
    decision_id: Annotated[int, typer.Argument(metavar="ID", help="The decision's number.")],
    note: Annotated[str | None, typer.Option("--note", help="What was done.")] = None,
    actor: ActorOption = None,
    config: ConfigOpt = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Mark a decision done (its owner, a leader of the owner's team, or RevOps).

    Example:  truce decisions done 2 --note "The retargeting budget now pays for two webinars" --as mia.ross@truce-demo.example
    """
    _close(decision_id, "done", note, actor, config, db, json)


@decisions_app.command("drop")
def drop(
    decision_id: Annotated[int, typer.Argument(metavar="ID", help="The decision's number.")],
    note: Annotated[str, typer.Option("--note", help="Why it is dropped (required).")],
    actor: ActorOption = None,
    config: ConfigOpt = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Drop a decision, saying why (its owner, a leader of the owner's team, or RevOps).

    Example:  truce decisions drop 1 --note "The escalation rules in truce.toml do this now" --as owen.price@truce-demo.example
    """
    _close(decision_id, "dropped", note, actor, config, db, json)


@initiative_app.command("adopt")
def adopt(
    move: Annotated[
        str, typer.Argument(help="The playbook move's key, e.g. key_account_liaison (see docs/meetings.md).")
    ],
    owner: Annotated[str, typer.Option("--owner", metavar="EMAIL", help="Who carries it out.")],
    start_on: Annotated[str, typer.Option("--start", metavar="DATE", help="When it starts, YYYY-MM-DD.")],
    indicator: Annotated[
        list[str] | None,
        typer.Option(
            "--indicator", metavar="KEY", help="An indicator it should change (repeat). Default: the move's own."
        ),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="What the company will do.")] = None,
    actor: ActorOption = None,
    config: ConfigOpt = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """RevOps adopts a move of the playbook as an initiative; its indicators are measured over the 90 days before the start.

    Example:  truce initiative adopt key_account_liaison --owner mia.ross@truce-demo.example --start 2026-12-01 --indicator cold_leads.sales --as owen.price@truce-demo.example
    """
    from truce.services.meetings import adopt_initiative

    with handled():
        settings, engine = config_and_store(config, db)
        adopted = _run(
            lambda: adopt_initiative(
                engine, settings, move=move, owner=owner, start=start_on, indicators=indicator or [], note=note,
                actor=_actor(actor),
            )
        )  # fmt: skip
    _print_initiatives([adopted], json, one=True)


def initiatives(config: ConfigOpt = None, db: DbOption = None, json: JsonOption = False) -> None:
    """The initiatives adopted, each with its indicators at the start and now, and the survey score change since.

    Example:  truce initiatives --json
    """
    from truce.services.meetings import list_initiatives

    with handled():
        settings, engine = config_and_store(config, db)
        rows = list_initiatives(engine, settings)
    _print_initiatives(rows, json)


def _print_initiatives(rows: list[dict], json: bool, one: bool = False) -> None:
    if json:
        print_json(rows[0] if one else rows, report="Initiative")
        return
    from rich.markup import escape

    from truce.brief.format import indicator, moved

    for i in rows:
        console.print(
            f"#{i['id']} {escape(i['move_text'])} — {escape(i['owner'])}, since {i['started_on']} ({i['state']})"
        )
        for x in i["indicators"]:
            console.print(
                f"    {x['label']}: {indicator(x['then'], x['key'])} → {indicator(x['now'], x['key'])} ({moved(x)})"
            )
        score = i["score"]
        if score["change"] is not None:
            console.print(
                f"    survey score {score['round_before']} {score['score_before']} → {score['round_after']} {score['score_after']}"
            )
    if not rows:
        console.print("No initiative adopted yet: truce initiative adopt MOVE --owner EMAIL --start DATE")
