"""Joint account plans for key accounts: `truce accounts plan` and `truce accounts plans`."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from truce.cli.common import DbOption, JsonOption, console, fail, handled, open_store, parse_day, print_json
from truce.cli.metrics import table

accounts_app = typer.Typer(
    help="Key accounts' joint plans: a marketing liaison, a sales owner, objectives, the next joint action.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(accounts_app, name="accounts")


@accounts_app.command("plan")
def plan(
    account: Annotated[str, typer.Argument(help="The account's domain or id.")],
    liaison: Annotated[str, typer.Option("--liaison", metavar="EMAIL", help="The marketing liaison.")],
    owner: Annotated[str, typer.Option("--owner", metavar="EMAIL", help="The sales owner.")],
    objectives: Annotated[
        str | None, typer.Option("--objectives", help="What both teams want from the account.")
    ] = None,
    next_action: Annotated[str | None, typer.Option("--next-action", help="The next joint action.")] = None,
    due: Annotated[
        str | None, typer.Option("--due", metavar="DATE", help="When the next action is due, YYYY-MM-DD.")
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--as", help="Who sets the plan (email). Default: $TRUCE_USER.", show_default=False)
    ] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Create or update a key account's joint plan; the account becomes a key account. Options left out keep their value.

    Example:  truce accounts plan acme.example --liaison mia.ross@truce-demo.example --owner eva.lind@truce-demo.example --next-action "Joint workshop" --due 2026-12-10 --as owen.price@truce-demo.example
    """
    due_day = parse_day("--due", due)
    from truce.domain.access import Forbidden
    from truce.services.account_plans import PlanRefused, set_plan
    from truce.services.lifecycle import NotFound

    with handled():
        engine = open_store(db)
        try:
            saved = set_plan(
                engine,
                account=account,
                liaison_email=liaison,
                owner_email=owner,
                objectives=objectives,
                next_action=next_action,
                next_action_due=due_day,
                actor=actor or os.environ.get("TRUCE_USER"),
            )
        except (PlanRefused, NotFound, Forbidden) as exc:
            fail(str(exc))
    if json:
        print_json(saved, report="AccountPlan")
        return
    from rich.markup import escape

    console.print(
        escape(
            f"{saved['account']}: liaison {saved['liaison']}, owner {saved['owner']}; "
            f"next: {saved['next_action'] or '—'} (due {saved['next_action_due'] or '—'})"
        ),
        soft_wrap=True,
    )


@accounts_app.command("plans")
def plans(
    overdue: Annotated[bool, typer.Option("--overdue", help="Only plans whose next action is overdue.")] = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Every key account's joint plan, soonest next action first, with overdue ones marked; and key accounts still without a plan.

    Example:  truce accounts plans --overdue --json
    """
    from truce.services.account_plans import key_accounts_without_plan, list_plans

    with handled():
        engine = open_store(db)
        rows = list_plans(engine, overdue_only=overdue)
        missing = key_accounts_without_plan(engine)
    if json:
        print_json({"plans": rows, "key_accounts_without_plan": missing}, report="AccountPlans")
        return
    shown = table(
        f"Joint account plans: {len(rows)}",
        "account",
        "liaison",
        "owner",
        "next action",
        "due",
        "objectives",
        left=("liaison", "owner", "due"),
        wrap=("next action", "objectives"),
    )
    from rich.markup import escape

    for r in rows:
        due_text = str(r["next_action_due"] or "—")
        shown.add_row(
            escape(r["account"]),
            escape(r["liaison_name"] or "—"),
            escape(r["owner_name"] or "—"),
            escape(r["next_action"] or "—"),
            f"[red]{due_text} overdue[/]" if r["overdue"] else due_text,
            escape(r["objectives"] or "—"),
        )
    console.print(shown)
    if missing:
        console.print(
            f"[yellow]{len(missing)} key accounts have no plan yet[/]: "
            + escape(", ".join(m["account"] for m in missing[:10]))
            + (" …" if len(missing) > 10 else "")
        )
