"""Discount approval: `truce discount request|approve|refuse|withdraw` and `truce discounts`."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from truce.cli.common import ConfigOption, DbOption, JsonOption, config_and_store, console, fail, handled, print_json

discount_app = typer.Typer(
    help="Ask the pricing owner to approve a discount beyond policy, and answer such requests.", no_args_is_help=True
)
ActorOption = Annotated[
    str | None, typer.Option("--as", help="Who acts (email). Default: $TRUCE_USER.", show_default=False)
]
IdArgument = Annotated[int, typer.Argument(help="The request's number (truce discounts).", min=1)]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why: for the other side and the record.")]
USAGE = 2  # a request the rules refuse for what was typed, like a bad option


def register(app: typer.Typer) -> None:
    app.add_typer(discount_app, name="discount")
    app.command("discounts")(discounts)


def _act(action, json: bool) -> None:
    from truce.domain.access import Forbidden
    from truce.services.discounts import DiscountRefused
    from truce.services.lifecycle import NotFound
    from truce.services.records import InvalidField

    try:
        done = action()
    except InvalidField as exc:
        fail(f"--{exc.field}: {exc.message}", code=USAGE)
    except (DiscountRefused, NotFound, Forbidden) as exc:
        fail(str(exc))
    if json:
        print_json(done, report="DiscountApproval")
        return
    console.print(
        f"#{done['id']} {done['state']}: {done['requested_discount']:.2%} off opportunity {done['opportunity_id']}"
        f" (policy {done['policy_limit']:.2%}), reason {done['reason']}; answer due {done['due_at']:%Y-%m-%d %H:%M} UTC"
    )


def _who(actor: str | None) -> str | None:
    return actor or os.environ.get("TRUCE_USER")


@discount_app.command("request")
def request(
    opportunity: Annotated[int, typer.Argument(help="The deal's id.", min=1)],
    discount: Annotated[float, typer.Option("--discount", help="The discount asked for, as a rate: 0.25 is 25 %.")],
    reason: Annotated[str, typer.Option("--reason", help="competitor, multi_year, strategic (truce.toml).")],
    note: NoteOption = None,
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """The deal's owner (or a sales leader) asks for a discount beyond the policy; the approvers are told.

    Example:  truce discount request 42 --discount 0.25 --reason competitor --note "Rival quoted 22 % off" --as eva.lind@truce-demo.example
    """
    from truce.services import discounts as service

    with handled():
        loaded, engine = config_and_store(config, db)
        _act(lambda: service.request(engine, loaded, opportunity, discount, reason, _who(actor), note), json)


def _answer(verb: str, approval: int, note, actor, db, config, json: bool) -> None:
    """approve, refuse or withdraw a request: the same call of the service function of that name."""
    from truce.services import discounts as service

    with handled():
        loaded, engine = config_and_store(config, db)
        _act(lambda: getattr(service, verb)(engine, loaded, approval, _who(actor), note), json)


@discount_app.command("approve")
def approve(
    approval: IdArgument,
    note: NoteOption = None,
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """The pricing owner approves a request, with a note; the seller is told.

    Example:  truce discount approve 1 --note "Three-year term makes it worth it" --as owen.price@truce-demo.example
    """
    _answer("approve", approval, note, actor, db, config, json)


@discount_app.command("refuse")
def refuse(
    approval: IdArgument,
    note: NoteOption = None,
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """The pricing owner refuses a request, with a note saying why; the seller is told.

    Example:  truce discount refuse 2 --note "Hold at 18 %: they asked for the premium tier" --as owen.price@truce-demo.example
    """
    _answer("refuse", approval, note, actor, db, config, json)


@discount_app.command("withdraw")
def withdraw(
    approval: IdArgument,
    note: NoteOption = None,
    actor: ActorOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Who asked (or a sales leader) takes an open request back.

    Example:  truce discount withdraw 3 --note "Customer accepted list price" --as eva.lind@truce-demo.example
    """
    _answer("withdraw", approval, note, actor, db, config, json)


def discounts(
    pending: Annotated[bool, typer.Option("--pending", help="Only requests waiting for an answer.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Discount approval requests, newest first; --pending: those waiting, the soonest due first.

    Example:  truce discounts --pending --json
    """
    from truce.services.discounts import list_approvals

    with handled():
        loaded, engine = config_and_store(config, db)
        found = list_approvals(engine, loaded, pending=pending)
    if json:
        print_json(found, report="DiscountApproval")
        return
    from rich.table import Table

    table = Table(title=f"Discount approvals: {len(found)}{' waiting' if pending else ''}", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("deal", ratio=1)  # a long deal name wraps at its words rather than losing them
    table.add_column("asked / policy", no_wrap=True)
    table.add_column("reason", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("due / answered", no_wrap=True)
    for r in found:
        when = r["decided_at"] or r["due_at"]
        late = " [red](late)[/]" if r["late"] else ""
        table.add_row(
            str(r["id"]),
            r["opportunity"] or str(r["opportunity_id"]),
            f"{_rate(r['requested_discount'])} / {_rate(r['policy_limit'])}",
            r["reason"],
            r["state"] + late,
            f"{when:%m-%d %H:%M}",
        )
    console.print(table)
    for r in found:
        said = r["note"] or r["request_note"]
        console.print(
            f"#{r['id']} asked by {r['requested_by'] or '—'}" + (f": {said}" if said else ""), highlight=False
        )


def _rate(value) -> str:
    return f"{value:.1%}".replace(".0%", "%")
