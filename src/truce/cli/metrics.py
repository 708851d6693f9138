"""Integrated metrics per group (`truce metrics`) and who to call (`truce directory`)."""

from __future__ import annotations

from enum import StrEnum
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
    parse_day,
    print_json,
)

FromOption = Annotated[str | None, typer.Option("--from", metavar="DATE", help="First day counted, YYYY-MM-DD (UTC).")]
ToOption = Annotated[str | None, typer.Option("--to", metavar="DATE", help="Last day counted, YYYY-MM-DD (UTC).")]
BAR = 20


class Team(StrEnum):
    marketing = "marketing"
    sales = "sales"
    revops = "revops"


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)
    app.command("directory")(directory)


def bar(value: float, largest: float, width: int = BAR) -> str:
    if largest <= 0 or value <= 0:
        return ""
    eighths = round(value / largest * width * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def table(title: str, *columns: str, left: tuple[str, ...] = (), wrap: tuple[str, ...] = ()):
    """A table whose first column and `left` columns are left-aligned, `wrap` columns left-aligned
    and wrapped, bar columns ("") left-aligned, and every other column a right-aligned number."""
    from rich.table import Table

    shown = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        if column in wrap:
            shown.add_column(column, justify="left", overflow="fold", ratio=2)
        elif i == 0 or column in left:
            shown.add_column(column, justify="left", overflow="ellipsis", ratio=1)
        else:
            shown.add_column(column, justify="left" if column == "" else "right", no_wrap=True)
    return shown


def span(period: dict) -> str:
    if not period["from"] and not period["to"]:
        return "all time"
    return f"{period['from'] or 'the start'} to {period['to'] or 'today'}"


def _news_heading(label: str, period: dict) -> str:
    # Over all time every segment's first win is inside the period, so "new" would say nothing.
    if not period["from"] and not period["to"]:
        return f"All {label} won so far (over all time each counts as new; --from shows those new since a day): "
    return f"New {label} (first won deal company-wide in the period): "


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def metrics(
    start: FromOption = None,
    end: ToOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Integrated metrics per group: sales measures for sellers and downstream marketers, longer-horizon ones for upstream marketers, and joint activity.

    Sellers: their won deals; downstream marketers: won deals of the campaigns they own. New customers, closings, average gross profit per customer ([brief] gross_margin), and sales cost as a share of sales (programme spend: the campaigns a person owns; truce has no pay data). Upstream: revenue from new segments and new offerings. Joint: accounts touched by both teams, and meetings with both. Rules: docs/feedback.md.

    Example:  truce metrics --from 2026-07-01 --to 2026-09-30 --json
    """
    first, last = parse_day("--from", start), parse_day("--to", end)
    from truce.services.metrics import MetricsError, group_metrics

    with handled():
        loaded, engine = config_and_store(config, db)
        try:
            data = group_metrics(engine, loaded, start=first, end=last)
        except MetricsError as exc:
            fail(str(exc))
    if json:
        print_json(data, report="MetricsReport")
        return
    _show_metrics(data)


def _sales_table(title: str, rows: list[dict]):
    shown = table(title, "person", "new cust.", "closings", "won revenue", "GP / cust.", "cost", "cost share")
    for r in rows:
        shown.add_row(
            r["name"] + ("" if r["active"] else " (left)"),
            f"{r['new_customers']:,}",
            f"{r['closings']:,}",
            _money(r["won_revenue"]),
            _money(r["avg_gross_profit_per_customer"]),
            _money(r["sales_cost"]),
            _percent(r["sales_cost_share"]),
        )
    console.print(shown)


def _show_metrics(data: dict) -> None:
    from rich.markup import escape

    console.print(
        f"[bold]Integrated metrics[/], {span(data['period'])} ({data['currency']}, gross margin {data['gross_margin']:.0%})"
    )
    _sales_table("Sellers — their won deals", data["sellers"])
    _sales_table("Downstream marketers — won deals of the campaigns they own", data["downstream_marketers"])
    upstream = table(
        "Upstream marketers — won deals of the campaigns they own",
        "person",
        "closings",
        "won revenue",
        "new segments",
        "new offerings",
        "forecast acc.",
    )
    for r in data["upstream_marketers"]:
        upstream.add_row(
            r["name"] + ("" if r["active"] else " (left)"),
            f"{r['closings']:,}",
            _money(r["won_revenue"]),
            _money(r["revenue_from_new_segments"]),
            _money(r["revenue_from_new_offerings"]),
            ", ".join(f"{product} {_percent(acc)}" for product, acc in r["forecast_accuracy"].items()) or "—",
        )
    console.print(upstream)
    for label, key, name in (
        ("segments", "new_segments", "segment"),
        ("offerings", "new_offerings", "product"),
    ):
        if data[key]:
            console.print(
                escape(
                    _news_heading(label, data["period"])
                    + ", ".join(f"{n[name]} ({_money(n['won_revenue'])})" for n in data[key])
                )
            )
    joint = data["joint_activity"]
    console.print(
        f"[bold]Joint activity[/]: {joint['accounts_touched_by_both']:,} of {joint['accounts_touched']:,} accounts touched "
        f"by both teams ({_percent(joint['share'])}); {joint['meetings_with_both_teams']:,} meetings with both teams"
    )
    months = table("Joint activity by month", "month", "accounts", "by both", "share", "", "joint meetings")
    for m in joint["by_month"][-12:]:
        months.add_row(
            m["month"],
            f"{m['accounts_touched']:,}",
            f"{m['accounts_touched_by_both']:,}",
            _percent(m["share"]),
            bar(m["share"], 1.0),
            f"{m['meetings_with_both_teams']:,}",
        )
    console.print(months)
    for note in data["notes"]:
        console.print(f"[dim]{note}[/]")


def directory(
    team: Annotated[Team | None, typer.Option("--team", help="Only this team.")] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Who to call: each user's team, role, territory and segment, and the accounts, campaigns and key accounts they own.

    Example:  truce directory --team marketing
    """
    from truce.services.metrics import directory as who

    with handled():
        people = who(open_store(db), team=team.value if team else None)
    if json:
        print_json(people, report="DirectoryEntry")
        return
    from rich.markup import escape

    shown = table(
        f"Directory: {len(people)} people",
        "user",
        "name",
        "team",
        "role",
        "territory",
        "accounts",
        "key accounts",
        "campaigns",
        "liaison for",
        left=("name", "team", "role", "territory"),
        wrap=("key accounts", "liaison for"),
    )
    for p in people:
        role = p["role"] + (f", {p['marketing_focus']}" if p["marketing_focus"] else "")
        territory = " / ".join(x for x in (p["region"], p["segment"]) if x) or "—"
        key = [a["name"] for a in p["accounts_owned"] if a["key_account"]]
        shown.add_row(
            p["user"] + ("" if p["active"] else " [dim](left)[/]"),
            escape(p["name"]),
            p["team"],
            role,
            territory,
            f"{len(p['accounts_owned']):,}",
            escape(", ".join(key)) or "—",
            f"{len(p['campaigns_owned']):,}",
            escape(", ".join(a["name"] for a in p["key_accounts_as_liaison"])) or "—",
        )
    console.print(shown)
