"""The handoff and its promises: `truce handoff`, `truce sla`, `truce custody`."""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated

import typer

from truce.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    config_and_store,
    console,
    fail,
    handled,
    in_calendar,
    print_json,
)

handoff_app = typer.Typer(help="The MQL handoff queue: sales accepts or rejects, with a reason.", no_args_is_help=True)
sla_app = typer.Typer(help="Both sides' service levels: compliance report, breach sweep.", invoke_without_command=True)

ActorOption = Annotated[
    str | None, typer.Option("--as", help="The sales user deciding (email). Default: $TRUCE_USER.", show_default=False)
]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at", "--as-of", help="Evaluate as of this moment (ISO 8601, e.g. 2026-11-20T09:00Z). Default: now."
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(handoff_app, name="handoff")
    app.add_typer(sla_app, name="sla")
    app.command("custody")(custody)


def _moment(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"--at: not a date and time: {text!r} (use ISO 8601, e.g. 2026-11-20T09:00Z)")
    in_calendar("--at", moment.date())
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _decide(action, json: bool):
    decided = _acting(action)
    if json:
        print_json(decided.as_dict(), report="HandoffDecided")
        return
    console.print(
        f"{decided.email}: {decided.status}, now at stage [bold]{decided.stage}[/]"
        + (" [red](late)[/]" if decided.late else "")
    )
    for warning in decided.warnings:
        console.print(f"[yellow]{warning}[/]")


@handoff_app.command("queue")
def queue(db: DbOption = None, config: ConfigOption = None, at: AtOption = None, json: JsonOption = False) -> None:
    """Leads waiting for sales, oldest first, with business hours left on each SLA clock.

    Example:  truce handoff queue --json
    """
    from truce.services.handoff import queue as open_queue

    with handled():
        loaded, engine = config_and_store(config, db)
        waiting = open_queue(engine, loaded, _moment(at))
    if json:
        print_json(waiting, report="QueuedLead")
        return
    from rich.table import Table

    from truce.cli.common import drop_first

    table = Table(title=f"Handoff queue: {len(waiting)} leads waiting")
    for column in ("lead", "owner", "score", "MQL at", "h to first touch", "h to decision", "routed by"):
        table.add_column(column, justify="right" if column.startswith("h to") or column == "score" else "left")
    # A narrow terminal keeps who waits and how long is left on each clock: those are the seller's call.
    drop_first(table, "routed by", "MQL at", "score", "owner")
    for lead in waiting:
        cells = [lead["hours_to_first_touch"], lead["hours_to_decision"]]
        shown = ["touched" if h is None else f"[red]{h}[/]" if h < 0 else str(h) for h in cells]
        table.add_row(
            lead["email"],
            lead["owner"] or "-",
            str(lead["score"] or ""),
            lead["mql_at"].strftime("%Y-%m-%d %H:%M"),
            *shown,
            lead["routing_rule"] or "",
        )
    console.print(table)


@handoff_app.command("accept")
def accept(
    email: Annotated[str, typer.Argument(help="The lead's email.")],
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Sales accepts a lead: it moves to the accepted stage (SAL).

    Example:  truce handoff accept ann.fischer@acme.example --as eva.lind@truce-demo.example
    """
    from truce.services import handoff

    with handled():
        loaded, engine = config_and_store(config, db)
        _decide(lambda: handoff.accept(engine, loaded, email, actor or os.environ.get("TRUCE_USER")), json)


@handoff_app.command("reject")
def reject(
    email: Annotated[str, typer.Argument(help="The lead's email.")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="A reason code from truce.toml, e.g. no_budget.")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Free text for marketing.")] = None,
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Sales rejects a lead with a reason code; it goes back to marketing's nurture or out.

    Example:  truce handoff reject bob.novak@acme.example --reason no_budget --note "Budget opens in Q3" --as eva.lind@truce-demo.example
    """
    from truce.services import handoff

    with handled():
        loaded, engine = config_and_store(config, db)
        _decide(
            lambda: handoff.reject(engine, loaded, email, actor or os.environ.get("TRUCE_USER"), reason, note), json
        )


@handoff_app.command("assign")
def assign(
    email: Annotated[str, typer.Argument(help="The lead's email.")],
    to: Annotated[str, typer.Option("--to", help="The seller who gets the lead (a sales user's email).")],
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Give a waiting lead to another seller (RevOps or a sales leader); its SLA clocks run on.

    Example:  truce handoff assign ann.fischer@acme.example --to eva.lind@truce-demo.example --as owen.price@truce-demo.example
    """
    from truce.domain.access import Forbidden
    from truce.services import handoff
    from truce.services.lifecycle import NotFound

    with handled():
        loaded, engine = config_and_store(config, db)
        try:
            done = handoff.assign(engine, loaded, email, to, actor or os.environ.get("TRUCE_USER"))
        except (handoff.HandoffRefused, NotFound, Forbidden) as exc:
            fail(str(exc))
    if json:
        print_json(done, report="LeadAssigned")
        return
    console.print(f"{done['email']}: now with [bold]{done['owner']}[/] (was {done['previous_owner'] or 'nobody'})")


@handoff_app.command("touch")
def touch(
    email: Annotated[str, typer.Argument(help="The lead's email.")],
    kind: Annotated[str, typer.Option("--kind", help="What you did: call, email or meeting.")] = "call",
    at: AtOption = None,
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Log a call, email or meeting with your lead; the first after its MQL stops the first-touch clock.

    Example:  truce handoff touch ann.fischer@acme.example --kind call --as eva.lind@truce-demo.example
    """
    from truce.services import desk

    with handled():
        loaded, engine = config_and_store(config, db)
        moment = _moment(at)
        done = _acting(
            lambda: desk.log_touch(engine, loaded, email, kind, actor or os.environ.get("TRUCE_USER"), moment)
        )
    if json:
        print_json(done.as_dict(), report="TouchLogged")
        return
    clock = ""
    if done.first_touch:
        clock = "; first-touch clock stopped" + (" [red](after its deadline: a breach)[/]" if done.late else " in time")
    console.print(f"{done.email}: {done.kind} logged at {done.occurred_at:%Y-%m-%d %H:%M}{clock}")


@handoff_app.command("claim")
def claim(
    email: Annotated[str, typer.Argument(help="The lead's email.")],
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Claim a waiting lead nobody owns: sellers of its territory or segment by [routing], else any seller.

    Example:  truce handoff claim cara.silva@acme.example --as eva.lind@truce-demo.example
    """
    from truce.services import desk

    with handled():
        loaded, engine = config_and_store(config, db)
        done = _acting(lambda: desk.claim(engine, loaded, email, actor or os.environ.get("TRUCE_USER")))
    if json:
        print_json(done, report="LeadClaimed")
        return
    console.print(f"{done['email']}: now yours ({done['owner']}); its SLA clocks run from its MQL moment")


@handoff_app.command("undo")
def undo(
    email: Annotated[str, typer.Argument(help="The lead's email.")],
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Take back your own accept or reject within [sla.sales] undo_minutes (default 10): the lead waits in your queue again.

    The ledger keeps both moves: the decision, and the undo (a move back with reason "undo").

    Example:  truce handoff undo ann.fischer@acme.example --as eva.lind@truce-demo.example
    """
    from truce.services import desk

    with handled():
        loaded, engine = config_and_store(config, db)
        done = _acting(lambda: desk.undo(engine, loaded, email, actor or os.environ.get("TRUCE_USER")))
    if json:
        print_json(done, report="DecisionUndone")
        return
    console.print(
        f"{done['email']}: {done['undone']} undone; back at stage [bold]{done['stage']}[/], waiting in the queue"
    )


def _acting(action):
    """Run a seller's action; a refusal (not theirs, not waiting, an illegal move) is a clear error."""
    from truce.domain.access import Forbidden
    from truce.domain.lifecycle import IllegalMove
    from truce.services.handoff import HandoffRefused
    from truce.services.lifecycle import NotFound

    try:
        return action()
    except (HandoffRefused, NotFound, IllegalMove, Forbidden) as exc:
        fail(str(exc))


@sla_app.callback()
def sla_report(
    ctx: typer.Context,
    db: DbOption = None,
    config: ConfigOption = None,
    at: AtOption = None,
    json: JsonOption = False,
) -> None:
    """Compliance per side, per person and per month, and the live queue.

    Sales: first touch and decision in time, from the breaches the sweep recorded.
    Marketing: MQLs per month against the commitment, and the share sales accepted.

    Example:  truce sla --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from truce.services.sla_report import report

    with handled():
        loaded, engine = config_and_store(config, db)
        data = report(engine, loaded, _moment(at))
    if json:
        print_json(data, report="SlaReport")
        return
    _show_sla(data)


def _show_sla(data: dict) -> None:
    from rich.table import Table

    sales = data["sales"]
    people = Table(title="Sales: first touch and decision in time")
    for column in ("owner", "handoffs", "first touch", "decision", "too few attempts"):
        people.add_column(column)
    for row in [{"owner": "all sellers", **sales}, *sales["by_person"]]:
        people.add_row(
            row["owner"],
            str(row["handoffs"]),
            _pct(row["first_touch"]),
            _pct(row["decision"]),
            str(row["too_few_attempts"]),
        )
    console.print(people)
    months = Table(title="Marketing: MQLs handed over and accepted")
    for column in ("month", "MQLs", "target", "accepted", "acceptance", "kept"):
        months.add_column(column)
    for m in data["marketing"]["by_month"][-12:]:
        kept = "…" if not m["complete"] else _kept(m)
        rate = "-" if m["acceptance_rate"] is None else f"{m['acceptance_rate']:.0%}"
        months.add_row(m["month"], str(m["mqls"]), str(m["target"]), str(m["accepted"]), rate, kept)
    console.print(months)
    if sales["unswept"]:
        console.print(
            f"[yellow]{sales['unswept']} deadlines have passed since the last sweep; the scheduled sweep records"
            " them (truce sla sweep does it now)[/]"
        )
    console.print(f"{len(data['queue'])} leads waiting in the handoff queue (truce handoff queue)")


def _kept(month: dict) -> str:
    """ "yes", or "no" with the promise that broke: marketing promises a volume and an acceptance rate."""
    broken = [
        name for name, met in (("volume", month["volume_met"]), ("acceptance", month["acceptance_met"])) if not met
    ]
    return "yes" if not broken else f"[red]no: {' and '.join(broken)}[/]"


def _pct(promise: dict) -> str:
    if promise["compliance"] is None:
        return "-"
    return f"{promise['compliance']:.0%} of {promise['due']}"


@sla_app.command("sweep")
def sweep(db: DbOption = None, config: ConfigOption = None, at: AtOption = None, json: JsonOption = False) -> None:
    """Record every SLA breach whose deadline has passed, exactly once, then escalate late leads and remind sellers.

    The same round as the scheduled `sla_sweep` job; safe to run from cron, twice at once.

    Example:  truce sla sweep --json
    """
    from truce.services.sla_rules.rounds import run_round

    with handled():
        loaded, engine = config_and_store(config, db)
        done = run_round(engine, loaded, _moment(at))
    if json:
        print_json(done, report="SlaSwept")
        return
    console.print(f"{done['breaches_recorded']} new SLA breaches recorded")
    console.print(
        f"escalation: {done['leaders_told']} leads to their leaders, {done['rerouted']} re-routed, "
        f"{done['nurtured']} returned to nurture; {done['reminders_owed']} reminders owed"
    )


@sla_app.command("rebuild")
def rebuild(db: DbOption = None, config: ConfigOption = None, at: AtOption = None, json: JsonOption = False) -> None:
    """Create handoffs (and their breaches) for stage history that arrived without them, e.g. an import.

    Example:  truce import contacts hubspot-contacts.csv && truce sla rebuild
    """
    from truce.services.handoff_history import rebuild as run_rebuild

    with handled():
        loaded, engine = config_and_store(config, db)
        result = run_rebuild(engine, loaded, _moment(at))
    if json:
        print_json(result, report="SlaRebuilt")
        return
    console.print(
        f"{result['handoffs_created']} handoffs created from the stage history; "
        f"{result['breaches_recorded']} breaches recorded"
    )


def custody(db: DbOption = None, config: ConfigOption = None, at: AtOption = None, json: JsonOption = False) -> None:
    """Cold leads: who held each one when it went cold, for how long, and which SLA it broke.

    Example:  truce custody --json
    """
    from truce.services.custody import cold_leads

    with handled():
        loaded, engine = config_and_store(config, db)
        data = cold_leads(engine, loaded, _moment(at))
    if json:
        print_json(data, report="CustodyReport")
        return
    from rich.table import Table

    table = Table(title=f"Cold leads (no activity for {data['cold_after_days']} days), per month and team")
    for column in ("month", "team", "cold leads", "mean days held"):
        table.add_column(column)
    for row in data["by_team_and_month"][-24:]:
        table.add_row(row["month"], row["team"], str(row["cold_leads"]), f"{row['mean_held_days']:.1f}")
    console.print(table)
    console.print(f"{len(data['leads'])} cold leads in all; --json lists each with its holder and broken SLA")
