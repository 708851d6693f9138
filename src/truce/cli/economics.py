"""Economics: `truce roi`, `truce budget` and `truce pricing`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from truce.cli.common import (
    ATTRIBUTION_MODELS,
    ConfigOption,
    DbOption,
    JsonOption,
    config_and_store,
    console,
    fail,
    handled,
    parse_day,
    print_json,
)

MODELS = ATTRIBUTION_MODELS
Model = StrEnum("Model", {name: name for name in MODELS})  # type: ignore[misc]  # members from the vocabulary; mypy reads only literal ones
ModelOption = Annotated[
    Model | None, typer.Option("--model", help="Attribution model. Default: the attribution model in truce.toml.")
]
FromOption = Annotated[str | None, typer.Option("--from", metavar="DATE", help="First day counted, YYYY-MM-DD (UTC).")]
ToOption = Annotated[str | None, typer.Option("--to", metavar="DATE", help="Last day counted, YYYY-MM-DD (UTC).")]
BAR = 20


class RoiBy(StrEnum):
    channel = "channel"
    campaign = "campaign"


def register(app: typer.Typer) -> None:
    app.command("roi")(roi)
    app.command("budget")(budget)
    app.command("pricing")(pricing)


def roi(
    model: ModelOption = None,
    by: Annotated[RoiBy, typer.Option("--by", help="One row per channel or per campaign.")] = RoiBy.channel,
    start: FromOption = None,
    end: ToOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Spend against attributed pipeline and revenue, per channel or campaign: ROI, ROAS and CAC.

    A campaign's cost (actual, else budget) is spread evenly over the days it ran. Pipeline and revenue are the attribution model's credit for deals created and deals won in the period. ROI = (revenue − spend) / spend, ROAS = revenue / spend, CAC = spend / customers won. Also shows how much pipeline marketing and sales each sourced (first touch). Rules: docs/economics.md.

    Example:  truce roi --by campaign --model linear --from 2026-01-01 --to 2026-06-30
    """
    first, last = parse_day("--from", start), parse_day("--to", end)
    from truce.services.economics import roi_report

    data = _run(roi_report, config, db, model=model.value if model else None, by=by.value, start=first, end=last)
    if json:
        print_json(data, report="RoiReport")
        return
    _show_roi(data)


def budget(
    what_if: Annotated[
        str | None,
        typer.Option(
            "--what-if", metavar="CHANGES", help='Monthly spend changes, e.g. "paid_search:-20%,webinar:+20%".'
        ),
    ] = None,
    optimize: Annotated[
        bool, typer.Option("--optimize", help="Suggest the allocation of --total that maximises projected revenue.")
    ] = False,
    total: Annotated[
        float | None,
        typer.Option(
            "--total", metavar="N", help="Monthly budget to allocate (with --optimize). Default: the baseline total."
        ),
    ] = None,
    bounds: Annotated[
        str | None,
        typer.Option(
            "--bounds",
            metavar="LIMITS",
            help='Per-channel monthly limits, e.g. "paid_search:1000-5000,webinar:50%-200%".',
        ),
    ] = None,
    low: Annotated[
        float, typer.Option("--min", metavar="PCT", help="Default lower bound, % of a channel's baseline spend.")
    ] = 50.0,
    high: Annotated[
        float, typer.Option("--max", metavar="PCT", help="Default upper bound, % of a channel's baseline spend.")
    ] = 150.0,
    model: ModelOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Response curves per channel (revenue = a·ln(1 + spend/b)), with a what-if or an optimised budget.

    Curves are fitted to each channel's monthly spend and the revenue the attribution model credits to it; intervals come from a bootstrap over months. Changes and bounds are per month, relative to a channel's baseline (its average monthly spend). The estimate is correlational: check it with a holdout before moving money. Rules: docs/economics.md.

    Example:  truce budget --what-if "paid_search:-20%,webinar:+20%"   or   truce budget --optimize --total 25000
    """
    from truce.services.economics import EconomicsError, budget_report, parse_bounds, parse_what_if

    if total is not None and not optimize:
        fail("--total is the budget --optimize allocates; add --optimize")
    if bounds is not None and not optimize:
        fail("--bounds limits what --optimize may allocate; add --optimize")
    try:
        changes = parse_what_if(what_if) if what_if is not None else None
        limits = parse_bounds(bounds) if bounds is not None else None
    except EconomicsError as exc:
        fail(str(exc))
    if not 0 <= low <= high:
        fail(f"--min {low:g} and --max {high:g}: need 0 ≤ min ≤ max (percent of baseline spend)")
    data = _run(
        budget_report,
        config,
        db,
        model=model.value if model else None,
        what_if=changes,
        optimize=optimize,
        optimize_total=total,
        bounds=limits,
        default_bounds=(low / 100, high / 100),
    )
    if json:
        print_json(data, report="BudgetReport")
        return
    _show_budget(data)


def pricing(
    start: FromOption = None,
    end: ToOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """List against realised price by rep, segment and product; discounts, win rates and what went beyond policy.

    A deal's discount is 1 − amount / list amount. A deal counts when its close date is in the period. The policy is the pricing.discount_policy section of truce.toml. Rules: docs/economics.md.

    Example:  truce pricing --from 2026-01-01 --to 2026-06-30
    """
    first, last = parse_day("--from", start), parse_day("--to", end)
    from truce.services.pricing import pricing_report

    data = _run(pricing_report, config, db, start=first, end=last)
    if json:
        print_json(data, report="PricingReport")
        return
    _show_pricing(data)


def _run(report, config: str | None, db: str | None, **options) -> dict:
    with handled():
        loaded, store = config_and_store(config, db)
        try:
            return report(store, loaded, **options)
        except ValueError as exc:  # every report's own error (and the attribution model's) is a ValueError
            fail(str(exc))


# ---- formatting --------------------------------------------------------------------------------


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _percent(rate: float | None, digits: int = 1) -> str:
    return "—" if rate is None else f"{rate:.{digits}%}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _bar(value: float, largest: float) -> str:
    if largest <= 0 or value <= 0:
        return ""
    eighths = round(value / largest * BAR * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def _span(data: dict) -> str:
    if not data["from"] and not data["to"]:
        return "all time"
    return f"{data['from'] or 'the start'} to {data['to'] or 'today'}"


def _table(title: str, *columns: str):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 or column == "" else "right", no_wrap=i == 0)
    return table


def _show_pricing(data: dict) -> None:
    totals, currency = data["totals"], data["currency"]
    console.print(
        f"[bold]Pricing[/], deals closing {_span(data)} ({currency}): {totals['deals']:,} won deals, "
        f"list {_money(totals['list_total'])}, realised {_money(totals['realised_total'])}, "
        f"given away {_money(totals['given_away'])} ({_percent(totals['weighted_discount'])}); "
        f"[bold]beyond policy {_money(totals['beyond_policy'])}[/] in {totals['deals_beyond_policy']:,} deals."
    )
    if data["deals"]["unpriced"]:
        console.print(f"{data['deals']['unpriced']:,} deals have neither a list amount nor a discount rate: left out.")
    bands = _table(
        "Discount distribution — every priced deal; win rate over closed deals",
        "discount",
        "deals",
        "",
        "won",
        "lost",
        "open",
        "win rate",
        "median days won",
        "median days lost",
    )
    largest = max((b["deals"] for b in data["bands"]), default=0)
    for b in data["bands"]:
        bands.add_row(
            b["band"],
            f"{b['deals']:,}",
            _bar(b["deals"], largest),
            f"{b['won']:,}",
            f"{b['lost']:,}",
            f"{b['open']:,}",
            _percent(b["win_rate"]),
            _days(b["median_cycle_days_won"]),
            _days(b["median_cycle_days_lost"]),
        )
    console.print(bands)
    for title, key in (("rep", "by_rep"), ("segment", "by_segment"), ("product", "by_product")):
        table = _table(
            f"Realised against list by {title} — won deals",
            title,
            "deals",
            "list",
            "realised",
            "avg discount",
            "median",
            "given away",
            "beyond policy",
            "deals over",
        )
        for row in data[key]:
            table.add_row(
                row.get("name") or row["key"] or "(none)",
                f"{row['deals']:,}",
                _money(row["list_total"]),
                _money(row["realised_total"]),
                _percent(row["average_discount"]),
                _percent(row["median_discount"]),
                _money(row["given_away"]),
                _money(row["beyond_policy"]),
                f"{row['deals_beyond_policy']:,}",
            )
        console.print(table)


def _days(days: float | None) -> str:
    return "—" if days is None else f"{days:.1f}"


def _show_roi(data: dict) -> None:
    console.print(
        f"[bold]ROI by {data['by']}[/], {_span(data)} ({data['currency']}), attribution model {data['model']}. "
        "ROI = (revenue − spend) / spend; ROAS = revenue / spend; CAC = spend / customers."
    )
    table = _table(
        "Spend against attributed pipeline and revenue",
        data["by"],
        "spend",
        "pipeline",
        "revenue",
        "customers",
        "ROI",
        "ROAS",
        "CAC",
    )
    for row in data["rows"]:
        table.add_row(row["label"] or row["key"] or "(none)", *_roi_cells(row))
    table.add_section()
    table.add_row("[bold]total[/]", *_roi_cells(data["totals"]))
    console.print(table)
    sourced = data["sourced"]
    table = _table(
        "Sourced pipeline — the team whose touch started the journey (first touch)", "team", "pipeline", "share", ""
    )
    for row in sourced["rows"]:
        share = row["share"] or 0.0
        table.add_row(row["team"] or "(none)", _money(row["pipeline"]), _percent(row["share"]), _bar(share, 1.0))
    console.print(table)
    if data["undated"]["campaigns"]:
        console.print(
            f"{data['undated']['campaigns']:,} campaigns without a start date ({_money(data['undated']['spend'])}) "
            "cannot be placed in time and are left out."
        )


def _roi_cells(row: dict) -> list[str]:
    return [
        _money(row["spend"]),
        _money(row["pipeline"]),
        _money(row["revenue"]),
        f"{row['customers']:,.1f}",
        _percent(row["roi"], 0),
        _ratio(row["roas"]),
        _money(row["cac"]),
    ]


def _show_budget(data: dict) -> None:
    pct = f"{data['level']:.0%}"
    window = data["window"]
    console.print(
        f"[bold]Response curves[/] — monthly revenue = a·ln(1 + spend/b), fitted per channel on "
        f"{window['first'] or '—'} to {window['last'] or '—'} ({data['currency']}; attribution model {data['model']}, "
        f"won deals). Brackets: the {pct} interval from a bootstrap over months ({data['draws']:,} draws)."
    )
    fits = _table(
        "Fit per channel — per month",
        "channel",
        "months (spent)",
        "R²",
        "baseline spend",
        "modelled revenue",
        "actual revenue",
        "next 1 spent returns",
    )
    for row in data["channels"]:
        fits.add_row(
            row["channel"],
            f"{row['months']} ({row['months_with_spend']})",
            _ratio(row["r2"]),
            _money(row["baseline_spend"]),
            f"{_money(row['baseline_revenue'])} ({_money(row['baseline_low'])}–{_money(row['baseline_high'])})",
            _money(row["actual_revenue"]),
            f"{row['marginal_roas']:.2f} ({row['marginal_low']:.2f}–{row['marginal_high']:.2f})",
        )
    console.print(fits)
    for row in data["not_fitted"]:
        console.print(f"  {row['channel']}: no curve — {row['reason']}")
    for note in data["notes"]:
        console.print(f"[yellow]Note:[/] {note}")
    if data["what_if"]:
        _show_scenario(
            data["what_if"], "What if — monthly; channels not named stay at their baseline", changed_only=True
        )
    if data["optimized"]:
        _show_scenario(data["optimized"], "Optimised allocation — monthly, within the bounds shown", changed_only=False)
    console.print(f"\n[bold yellow]Read this first:[/] {data['caveat']}")


def _show_scenario(scenario: dict, title: str, changed_only: bool) -> None:
    bounded = any("low_bound" in row for row in scenario["channels"])
    columns = ["channel", "baseline spend", "spend", "change", *(["bounds"] if bounded else [])]
    table = _table(title, *columns, "revenue", "against baseline")
    shown = [r for r in scenario["channels"] if not changed_only or r["spend"] != r["baseline_spend"]]
    for row in shown:
        table.add_row(*_scenario_cells(row, row.get("change_pct"), bounded))
    table.add_section()
    total = scenario["total"]
    change = total["spend"] / total["baseline_spend"] - 1 if total["baseline_spend"] else None
    table.add_row(*_scenario_cells({**total, "channel": "all channels"}, change, bounded))
    console.print(table)


def _scenario_cells(row: dict, change: float | None, bounded: bool) -> list[str]:
    cells = [row["channel"], _money(row["baseline_spend"]), _money(row["spend"]), _signed_percent(change)]
    if bounded:
        cells.append(f"{_money(row['low_bound'])}–{_money(row['high_bound'])}" if "low_bound" in row else "")
    cells.append(f"{_money(row['revenue'])} ({_money(row['low'])}–{_money(row['high'])})")
    cells.append(f"{row['change']:+,.0f} ({row['change_low']:+,.0f} to {row['change_high']:+,.0f})")
    return cells


def _signed_percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:+.0%}"
