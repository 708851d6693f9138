"""`truce notifications failed|retry|list|prefs|deliver`: what went out, what did not, and who gets what."""

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

notifications_app = typer.Typer(
    help="Notifications: failed deliveries and broken channels, retrying them, and each person's channels.",
    no_args_is_help=True,
)
CHANNELS = ("inbox", "email")


def register(app: typer.Typer) -> None:
    app.add_typer(notifications_app, name="notifications")


def _actor() -> str:
    return os.environ.get("TRUCE_USER") or "cli"


@notifications_app.command("failed")
def failed(db: DbOption = None, json: JsonOption = False) -> None:
    """Broken channels (one clear error each) and deliveries that failed or gave up, newest first.

    Example:  truce notifications failed --json
    """
    from truce.services.notify.revops import failed as failed_deliveries

    with handled():
        found = failed_deliveries(open_store(db))
    if json:
        print_json(found, report="FailedDeliveries")
        return
    from rich.markup import escape

    for channel in found["broken_channels"]:
        console.print(
            f"[bold red]{channel['name']} is broken[/] until {channel['broken_until']:%Y-%m-%d %H:%M} UTC: {escape(channel['error'])}",
            soft_wrap=True,
        )
    if not found["deliveries"]:
        console.print("no failed deliveries" if not found["broken_channels"] else "no message has failed on its own")
        return
    _table("Failed deliveries", found["deliveries"])


@notifications_app.command("retry")
def retry(
    delivery: Annotated[
        int | None, typer.Argument(metavar="[ID]", help="The delivery to try again.", show_default=False)
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every failed or dead delivery, and clear broken channels.")
    ] = False,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Try failed or dead deliveries again in the next round (after fixing what broke them).

    Example:  truce notifications retry --all
    """
    from truce.services.lifecycle import NotFound
    from truce.services.notify.revops import retry as retry_deliveries

    if (delivery is None) == (not all_):
        fail("name one delivery ID, or --all", code=2)
    with handled():
        engine = open_store(db)
        try:
            done = retry_deliveries(engine, delivery, actor=_actor(), origin="cli")
        except NotFound as exc:
            fail(str(exc))
    if json:
        print_json(done, report="DeliveriesRetried")
        return
    console.print(
        f"{done['retried']} deliveries will be tried again; {done['channels_cleared']} broken channels cleared"
    )


@notifications_app.command("list")
def list_deliveries(
    user: Annotated[str | None, typer.Option("--user", metavar="EMAIL", help="Only this person's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many, newest first.")] = 100,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Every delivery (inbox, e-mail, webhook) with its status and attempts, newest first.

    Example:  truce notifications list --user eva.lind@truce-demo.example
    """
    from truce.services.notify.revops import deliveries

    with handled():
        rows = deliveries(open_store(db), user, limit)
    if json:
        print_json(rows, report="Notification")
        return
    _table(f"Deliveries: {len(rows)}", rows)


@notifications_app.command("prefs")
def prefs(
    email: Annotated[str, typer.Argument(help="The person.")],
    choose: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="KIND=CHANNELS", help="e.g. lead_routed=inbox,email or mql_pace= (none); repeatable."
        ),
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Show, or set, which channels a person gets each kind of event through.

    Example:  truce notifications prefs eva.lind@truce-demo.example --set sla_due_soon=inbox,email --set mql_pace=inbox
    """
    from truce.services.lifecycle import NotFound
    from truce.services.notify.preferences import preferences, set_preferences
    from truce.services.records import InvalidField

    choices = _choices(choose or [])
    with handled():
        settings, engine = config_and_store(config, db)
        try:
            if choices:
                shown = set_preferences(engine, settings, email, choices, actor=_actor(), origin="cli")
            else:
                shown = preferences(engine, settings, email)
        except InvalidField as exc:
            fail(f"--set {exc.field.removeprefix('channels.')}: {exc.message}", code=2)
        except NotFound as exc:
            fail(str(exc))
    if json:
        print_json(shown, report="NotificationPreferences")
        return
    from truce.cli.metrics import table

    shown_table = table(
        f"Channels of {shown['user']}", "event", "urgency", "channels", "", left=("event", "urgency", "channels", "")
    )
    for kind in shown["kinds"]:
        shown_table.add_row(
            kind["kind"], kind["urgency"], ", ".join(kind["channels"]) or "none", "" if kind["chosen"] else "default"
        )
    console.print(shown_table)


@notifications_app.command("deliver")
def deliver(config: ConfigOption = None, db: DbOption = None, json: JsonOption = False) -> None:
    """Run one delivery round now (the worker's job notify_deliver does this every minute).

    Example:  truce notifications deliver --json
    """
    from truce.services.notify.delivery import deliver as deliver_round

    with handled():
        settings, engine = config_and_store(config, db)
        counts = deliver_round(engine, settings)
    if json:
        print_json(counts, report="DeliveryRound")
        return
    console.print(", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in counts.items()))


def _choices(pairs: list[str]) -> dict[str, list[str]]:
    choices = {}
    for pair in pairs:
        kind, sep, channels = pair.partition("=")
        if not sep or not kind.strip():
            fail(f"--set {pair!r}: write KIND=CHANNELS, e.g. lead_routed=inbox,email", code=2)
        choices[kind.strip()] = [c.strip() for c in channels.split(",") if c.strip()]
    return choices


def _table(title: str, rows: list[dict]) -> None:
    """Four columns, so 80 fit: the event's subject takes the room left; retries and errors follow in words."""
    from rich.markup import escape
    from rich.table import Table

    room = max(16, console.width - 50)
    shown = Table(title=title, title_justify="left")
    shown.add_column("id", justify="right", no_wrap=True)
    shown.add_column("status", no_wrap=True)
    shown.add_column("channel → to", no_wrap=True, overflow="ellipsis", max_width=30)
    shown.add_column("event", no_wrap=True, overflow="ellipsis", max_width=room)
    for row in rows:
        tries = f" ({row['attempts']}×)" if row["attempts"] > 1 else ""
        shown.add_row(
            str(row["id"]),
            row["status"] + tries,
            f"{row['channel']} → {row['user'] or row['target']}",
            escape(row["subject"]),
        )
    console.print(shown)
    for row in rows:
        if row["status"] in ("pending", "failed") and row["attempts"]:
            console.print(f"#{row['id']}: next try {row['next_attempt_at']:%Y-%m-%d %H:%M} UTC", highlight=False)
        if row["last_error"]:
            console.print(f"[red]#{row['id']}: {escape(row['last_error'])}[/]", highlight=False)
