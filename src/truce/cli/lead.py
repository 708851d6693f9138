"""One lead at a time: `truce lead show` (its whole record) and `truce lead move` (by hand, by the rules)."""

from __future__ import annotations

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
    open_store,
    print_json,
)

lead_app = typer.Typer(help="One lead's record, and moving it by hand through the signed funnel.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(lead_app, name="lead")


@lead_app.command("show")
def show(
    email: Annotated[str, typer.Argument(help="The lead's email.")], db: DbOption = None, json: JsonOption = False
) -> None:
    """Everything that happened to one lead: moves, handoffs, SLA breaches, touches.

    Example:  truce lead show ann.fischer@acme.example
    """
    from truce.services.leads import history
    from truce.services.lifecycle import NotFound

    with handled():
        engine = open_store(db)
        try:
            record = history(engine, email)
        except NotFound as exc:
            fail(str(exc))
    if json:
        print_json(record, report="LeadHistory")
        return
    console.print(
        f"[bold]{record['email']}[/] — stage {record['stage']}, score {record['score'] if record['score'] is not None else '-'}"
    )
    for m in record["moves"]:
        why = f" ({m['reason']})" if m["reason"] else ""
        console.print(
            f"  {m['changed_at']:%Y-%m-%d %H:%M} {m['from_stage'] or '·'} → {m['to_stage']}{why} by {m['by'] or m['origin']}"
        )
    for h in record["handoffs"]:
        console.print(
            f"  handoff {h['mql_at']:%Y-%m-%d}: {h['status']}, owner {h['owner'] or '-'} ({h['routing_rule']})"
        )
    for b in record["sla_breaches"]:
        console.print(f"  [red]SLA breach[/] {b['kind']}: {b['detail']}")
    console.print(f"  {len(record['touchpoints'])} touchpoints")


@lead_app.command("move")
def move(
    email: Annotated[str, typer.Argument(help="The lead's email.")],
    stage: Annotated[str, typer.Argument(help="The stage to move to, e.g. mql or recycled.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (a reason code for exits).")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Free text kept in the ledger.")] = None,
    actor: Annotated[str | None, typer.Option("--as", help="Who moves it (email). Default: $TRUCE_USER.")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Move a lead by hand. The funnel's rules apply: an illegal move is refused with the allowed ones.

    Example:  truce lead move bob.novak@acme.example mql --note "Asked for pricing at the fair" --as mia.ross@truce-demo.example
    """
    from truce.domain.access import Forbidden
    from truce.domain.lifecycle import IllegalMove
    from truce.services.handoff import HandoffRefused
    from truce.services.leads import move as move_lead
    from truce.services.lifecycle import NotFound

    with handled():
        loaded, engine = config_and_store(config, db)
        try:
            moved = move_lead(
                engine,
                loaded,
                email,
                stage,
                actor_email=actor or os.environ.get("TRUCE_USER"),
                reason=reason,
                note=note,
            )
        except (IllegalMove, NotFound, HandoffRefused, Forbidden) as exc:
            fail(str(exc))
    if json:
        print_json(moved, report="LeadMoved")
        return
    skipped = f" (skipped {', '.join(moved['skipped'])})" if moved["skipped"] else ""
    console.print(
        f"{moved['email']}: {moved['from_stage']} → {moved['to_stage']}{skipped}; now held by {moved['team_after']}"
    )
