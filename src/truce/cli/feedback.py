"""Sales-force feedback in one line: `truce feedback add|list|answer|themes`."""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import typer

from truce.cli.common import DbOption, JsonOption, console, fail, handled, open_store, parse_day, print_json
from truce.cli.metrics import FromOption, ToOption, bar, span, table
from truce.vocabulary import FEEDBACK_KINDS, FEEDBACK_STATUSES

# The kinds and statuses the store accepts, from truce.vocabulary (which loads no SQLAlchemy).
KINDS = FEEDBACK_KINDS
STATUSES = FEEDBACK_STATUSES
Kind = StrEnum("Kind", {k: k for k in KINDS})  # type: ignore[misc]  # members from the vocabulary; mypy reads only literal ones
Status = StrEnum("Status", {s: s for s in STATUSES})  # type: ignore[misc]  # members from the vocabulary; mypy reads only literal ones
Answer = StrEnum("Answer", {s: s for s in STATUSES[1:]})  # type: ignore[misc]  # members from the vocabulary; mypy reads only literal ones

feedback_app = typer.Typer(
    help="One-line feedback from the sales floor; marketing answers with a status and a reply.",
    no_args_is_help=True,
)
ActorOption = Annotated[
    str | None, typer.Option("--as", help="Who you are (email). Default: $TRUCE_USER.", show_default=False)
]


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")


def _run(action: Callable):
    from truce.services.feedback import FeedbackRefused
    from truce.services.lifecycle import NotFound

    try:
        return action()
    except (FeedbackRefused, NotFound) as exc:
        fail(str(exc))


def _actor(actor: str | None) -> str | None:
    return actor or os.environ.get("TRUCE_USER")


@feedback_app.command("add")
def add(
    text: Annotated[str, typer.Argument(help="What you heard, in one line (at most 2,000 characters).")],
    kind: Annotated[Kind, typer.Option("--kind", help="What it is about.")],
    contact: Annotated[str | None, typer.Option("--contact", metavar="EMAIL", help="The contact it concerns.")] = None,
    deal: Annotated[int | None, typer.Option("--deal", metavar="ID", help="The deal (opportunity id).")] = None,
    campaign: Annotated[int | None, typer.Option("--campaign", metavar="ID", help="The campaign (id).")] = None,
    actor: ActorOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Record one line of feedback for marketing; prints the new item's id.

    Example:  truce feedback add "Castellan offers a free 90-day pilot" --kind competitor --deal 42 --as eva.lind@truce-demo.example
    """
    from truce.services.feedback import add_feedback

    with handled():
        engine = open_store(db)
        item = _run(
            lambda: add_feedback(
                engine,
                text=text,
                kind=kind.value,
                author_email=_actor(actor),
                contact_email=contact,
                deal_id=deal,
                campaign_id=campaign,
            )
        )
    if json:
        print_json(item, report="FeedbackItem")
        return
    console.print(
        f"feedback {item['id']} recorded ({item['kind']}); marketing's answer will show in truce feedback list",
        soft_wrap=True,
    )


@feedback_app.command("list")
def list_items(
    status: Annotated[Status | None, typer.Option("--status", help="Only items with this status.")] = None,
    kind: Annotated[Kind | None, typer.Option("--kind", help="Only items of this kind.")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only what you (--as) said.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 50,
    actor: ActorOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Feedback, newest first, with marketing's status and reply: sellers see what came of what they said.

    Example:  truce feedback list --mine --as eva.lind@truce-demo.example
    """
    from truce.services.feedback import list_feedback

    author = None
    if mine:
        author = _actor(actor)
        if not author:
            fail("--mine needs to know who you are: --as EMAIL or TRUCE_USER")
    with handled():
        engine = open_store(db)
        items = _run(
            lambda: list_feedback(
                engine,
                status=status.value if status else None,
                kind=kind.value if kind else None,
                author=author,
                limit=limit,
            )
        )
    if json:
        print_json(items, report="FeedbackItem")
        return
    from rich.markup import escape

    shown = table(
        f"Feedback: {len(items)} items",
        "id",
        "date",
        "kind",
        "status",
        "from",
        "said",
        "answer",
        left=("date", "kind", "status", "from"),
        wrap=("said", "answer"),
    )
    for i in items:
        answer = escape(f"{i['reply']} — {(i['replied_by'] or '').split('@')[0]}") if i["reply"] else "—"
        status_text = {"new": "[yellow]new[/]", "acted_on": "[green]acted on[/]"}.get(i["status"], i["status"])
        shown.add_row(
            str(i["id"]),
            f"{i['created_at']:%Y-%m-%d}",
            i["kind"],
            status_text,
            (i["author"] or "—").split("@")[0],
            escape(i["text"]),
            answer,
        )
    console.print(shown)


@feedback_app.command("answer")
def answer(
    item_id: Annotated[int, typer.Argument(metavar="ID", help="The feedback item's id.")],
    status: Annotated[Answer, typer.Option("--status", help="Forward only: new → acknowledged → acted_on.")],
    reply: Annotated[
        str | None, typer.Option("--reply", help="What marketing says back; required for acted_on.")
    ] = None,
    actor: ActorOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Marketing (or RevOps) answers an item: acknowledge it, or say what was done about it.

    Example:  truce feedback answer 12 --status acted_on --reply "Battle card updated" --as mia.ross@truce-demo.example
    """
    from truce.services.feedback import answer_feedback

    with handled():
        engine = open_store(db)
        item = _run(lambda: answer_feedback(engine, item_id, status=status.value, reply=reply, by_email=_actor(actor)))
    if json:
        print_json(item, report="FeedbackItem")
        return
    console.print(
        f"feedback {item['id']} is now {item['status']}; {item['author'] or 'its author'} will see the reply",
        soft_wrap=True,
    )


@feedback_app.command("themes")
def themes(
    start: FromOption = None,
    end: ToOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """What the sales floor said in a period: counts per kind, competitors, products and terms mentioned most, the trend, and how much marketing answered.

    Competitors and products are the names on deals, found in the text or on the linked deal. Terms are words and two-word phrases after our stopword list. Rules: docs/feedback.md.

    Example:  truce feedback themes --from 2026-07-01 --to 2026-09-30
    """
    first, last = parse_day("--from", start), parse_day("--to", end)
    from truce.services.feedback import feedback_themes

    with handled():
        engine = open_store(db)
        data = _run(lambda: feedback_themes(engine, start=first, end=last))
    if json:
        print_json(data, report="FeedbackThemes")
        return
    _show_themes(data)


def _ranked(title: str, rows: list[dict], label: str, limit: int = 10) -> None:
    from rich.markup import escape

    if not rows:
        return
    shown = table(title, label, "mentions", "")
    largest = max(r["mentions"] for r in rows)
    for r in rows[:limit]:
        shown.add_row(escape(r[label]), f"{r['mentions']:,}", bar(r["mentions"], largest))
    console.print(shown)


def _show_themes(data: dict) -> None:
    share = "—" if data["answered_share"] is None else f"{data['answered_share']:.0%}"
    console.print(
        f"[bold]Feedback themes[/], {span(data['period'])}: {data['items_in_period']:,} items, "
        f"{share} answered, {data['open']:,} still new"
    )
    kinds = table("Items per kind", "kind", "items", "")
    largest = max(data["counts"].values(), default=0)
    for kind, n in sorted(data["counts"].items(), key=lambda kv: -kv[1]):
        kinds.add_row(kind, f"{n:,}", bar(n, largest))
    console.print(kinds)
    _ranked("Competitors mentioned", data["competitors"], "name")
    _ranked("Products mentioned", data["products"], "name")
    _ranked("Terms used most", data["terms"], "term", limit=20)
    months: dict[str, int] = {}
    for row in data["trend"]:
        months[row["month"]] = months.get(row["month"], 0) + row["n"]
    if months:
        trend = table("Items per month", "month", "items", "")
        most = max(months.values())
        for month, n in sorted(months.items())[-12:]:
            trend.add_row(month, f"{n:,}", bar(n, most))
        console.print(trend)
    from rich.markup import escape

    for i in data["items"][:5]:
        reply = f" → {i['reply']}" if i["reply"] else ""
        console.print(escape(f"  #{i['id']} [{i['status']}] {i['text']}{reply}"))
