"""Shared targets and shared rewards: `truce target`, `truce target set`, `truce target backtest`, `truce credit`."""

from __future__ import annotations

import os
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
BAR = 10

# Its help is target_report's docstring: attainment and forecast, with an example.
target_app = typer.Typer(invoke_without_command=True)


class Metric(StrEnum):
    revenue = "revenue"
    pipeline = "pipeline"
    mqls = "mqls"


class Team(StrEnum):
    shared = "shared"
    marketing = "marketing"
    sales = "sales"


class By(StrEnum):
    user = "user"
    team = "team"


class Split(StrEnum):
    credit = "credit"
    team_then_credit = "team_then_credit"


PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period", help="A year (2026), quarter (2026-Q4) or month (2026-11), from 1900 to 2999.", show_default=False
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(target_app, name="target")
    app.command("credit")(credit)


def _money(value) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _bar(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    eighths = round(min(max(ratio, 0.0), 1.0) * BAR * 8)
    filled = "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]
    colour = "green" if ratio >= 1 else ("yellow" if ratio >= 0.8 else "red")
    return f"[{colour}]{filled}[/]{' ' * (BAR - len(filled))} {ratio:.0%}"


# ---- truce target --------------------------------------------------------------------------------


@target_app.callback()
def target_report(
    ctx: typer.Context,
    period: PeriodOption = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", "--as-of", metavar="DATE", help="As of the end of this day, YYYY-MM-DD (UTC). Default: today."
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Attainment and forecast against each target: the ones running today, or those within --period.

    Revenue is forecast as won so far + open pipeline weighted by stage odds learned from history +
    new business; pipeline and MQLs by their run-rate. docs/targets.md gives every rule.

    Example:  truce target --period 2026-Q4
    """
    if ctx.invoked_subcommand is not None:
        return
    from truce.domain.forecast import PeriodError
    from truce.services.targets import targets_report

    as_of = parse_day("--at", at)
    with handled():
        loaded, engine = config_and_store(config, db)
        try:
            data = targets_report(engine, loaded, period=period, as_of=as_of)
        except PeriodError as exc:
            fail(f"--period: {exc}")
    if json:
        print_json(data, report="TargetsReport")
        return
    _show_targets(data)


def _show_targets(data: dict) -> None:
    from rich.table import Table

    if not data["targets"]:
        where = f"within {data['period']}" if data["period"] else f"running on {data['as_of']}"
        console.print(
            f"No targets {where}. Set one: truce target set --metric revenue --period 2026-Q4 --amount 2500000"
        )
        return
    table = Table(title=f"Targets as of {data['as_of']}")
    for column in (
        "period",
        "metric",
        "team",
        "target",
        "actual",
        "attainment",
        "forecast",
        "forecast vs target",
        "days",
    ):
        table.add_column(
            column, justify="right" if column in ("target", "actual", "forecast", "days") else "left", no_wrap=True
        )
    for t in data["targets"]:
        whole = t["metric"] == "mqls"
        show = (lambda v: "-" if v is None else f"{v:,.0f}") if whole else _money
        table.add_row(
            t["period"],
            t["metric"],
            t["team"],
            show(t["amount"]),
            show(t["actual"]),
            _bar(t["attainment"]),
            show(t["forecast"]),
            _bar(t["forecast_attainment"]),
            f"{t['days_elapsed']}/{t['days_total']}",
        )
    console.print(table)
    for t in data["targets"]:
        detail = t["forecast_detail"]
        if detail and t["team"] == "shared" and t["days_elapsed"] < t["days_total"]:
            console.print(
                f"{t['period']} revenue forecast {_money(detail['forecast'])} = won {_money(detail['won_to_date'])}"
                f" + weighted pipeline {_money(detail['weighted_pipeline'])} ({detail['open_deals']} open deals"
                f" worth {_money(detail['open_amount'])}) + new business {_money(detail['new_business'])};"
                f" run-rate {_money(detail['run_rate'])}"
            )


@target_app.command("set")
def target_set(
    metric: Annotated[Metric, typer.Option("--metric", help="revenue (won), pipeline (created) or mqls.")],
    amount: Annotated[str, typer.Option("--amount", help="The target: money to the cent, or a number of MQLs.")],
    period: PeriodOption = None,
    start: Annotated[
        str | None, typer.Option("--start", metavar="DATE", help="First day, instead of --period.")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", metavar="DATE", help="Last day, with --start.")] = None,
    team: Annotated[Team, typer.Option("--team", help="shared (both teams), marketing or sales.")] = Team.shared,
    actor: Annotated[
        str | None,
        typer.Option("--as", help="The revops user setting it (email). Default: $TRUCE_USER.", show_default=False),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Set a target (RevOps only). Setting the same metric, period and team again changes the amount; both are audited.

    Example:  truce target set --metric revenue --period 2026-Q4 --team shared --amount 2500000 --as owen.price@truce-demo.example
    """
    from truce.services.targets import TargetError, set_target

    with handled():
        _, engine = config_and_store(config, db)
        try:
            saved = set_target(
                engine,
                metric=metric.value,
                amount=amount,
                actor=actor or os.environ.get("TRUCE_USER"),
                period=period,
                start=parse_day("--start", start),
                end=parse_day("--end", end),
                team=team.value,
            )
        except TargetError as exc:
            fail(str(exc))
    if json:
        print_json(saved, report="TargetSet")
        return
    change = "set" if saved["created"] else f"changed from {saved['previous_amount']}"
    console.print(f"{saved['metric']} target for {saved['period']} ({saved['team']}): {saved['amount']} — {change}")


@target_app.command("backtest")
def target_backtest(
    start: Annotated[
        str | None, typer.Option("--from", metavar="DATE", help="First day of the span. Default: a year before --to.")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", metavar="DATE", help="Last day of the span. Default: the last day with deal activity."),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Back-test the revenue forecast: each month and quarter forecast from its middle day, with only what was known then.

    Prints MAPE and bias per month and per quarter, for the forecast and for what it is compared with
    (textbook stage odds, timing learned instead of close dates, the run-rate).

    Example:  truce target backtest --json
    """
    from truce.services.forecast import backtest

    with handled():
        loaded, engine = config_and_store(config, db)
        data = backtest(engine, loaded, start=parse_day("--from", start), end=parse_day("--to", end))
    if json:
        print_json(data, report="TargetBacktest")
        return
    _show_backtest(data)


def _show_backtest(data: dict) -> None:
    from rich.table import Table

    periods = Table(title=f"Revenue forecast from mid-period, {data['from']} to {data['to']}")
    for column in ("period", "as of", "actual", "forecast", "error", "won by then", "weighted pipeline", "run-rate"):
        periods.add_column(column, justify="left" if column in ("period", "as of") else "right")
    for p in data["periods"]:
        error = "-" if not p["actual"] else f"{(p['forecast'] - p['actual']) / p['actual']:+.0%}"
        periods.add_row(
            p["period"],
            str(p["as_of"]),
            _money(p["actual"]),
            _money(p["forecast"]),
            error,
            _money(p["won_to_date"]),
            _money(p["weighted_pipeline"]),
            _money(p["run_rate"]),
        )
    console.print(periods)
    summary = Table(title="Error (MAPE: mean |error| / actual; bias: mean error / actual; WAPE: Σ|error| / Σactual)")
    for column in ("periods", "method", "n", "MAPE", "bias", "WAPE", "revenue bias"):
        summary.add_column(column)
    for size, methods in data["summary"].items():
        for method, e in methods.items():
            if not e["periods"]:
                continue
            summary.add_row(
                size,
                method,
                str(e["periods"]),
                f"{e['mape']:.1%}",
                f"{e['bias']:+.1%}",
                f"{e['wape']:.1%}",
                f"{e['revenue_bias']:+.1%}",
            )
    console.print(summary)
    for note in data["notes"]:
        console.print(f"[dim]{note}[/]")


# ---- truce credit --------------------------------------------------------------------------------


def credit(
    model: Annotated[
        Model | None, typer.Option("--model", help="Attribution model. Default: [attribution] model in truce.toml.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", metavar="DATE", help="First close day counted, YYYY-MM-DD.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", metavar="DATE", help="Last close day counted, YYYY-MM-DD.")] = None,
    by: Annotated[By | None, typer.Option("--by", help="Only people (user) or only teams. Default: both.")] = None,
    pool: Annotated[
        str | None, typer.Option("--pool", metavar="AMOUNT", help="What-if: share out a bonus pool of this much.")
    ] = None,
    split: Annotated[
        Split, typer.Option("--split", help="credit: by each person's credit; team_then_credit: first among teams.")
    ] = Split.credit,
    team_split: Annotated[
        str | None,
        typer.Option(
            "--team-split",
            metavar="TEAM:N,...",
            help="Teams' shares for team_then_credit. Default: marketing:50,sales:50.",
        ),
    ] = None,
    floor: Annotated[str | None, typer.Option("--floor", metavar="AMOUNT", help="Least payout per person.")] = None,
    cap: Annotated[str | None, typer.Option("--cap", metavar="AMOUNT", help="Most payout per person.")] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """The credit ledger: each won deal's revenue split, to the cent, among the people and teams that touched it.

    Credit plus unattributed revenue (deals with no touch) always equals won revenue exactly. Touches no
    person made go to the owners of the campaigns behind them. --pool shows what a shared bonus pool would
    pay each person. docs/targets.md gives every rule.

    Example:  truce credit --model w_shaped --from 2026-07-01 --to 2026-09-30 --pool 100000 --split team_then_credit
    """
    from truce.services.attribution import ReportError
    from truce.services.credit import CreditError, bonus_pool, credit_ledger

    weights = _team_split(team_split)
    first, last = parse_day("--from", start), parse_day("--to", end)
    wanted = (by.value,) if by else ("user", "team")
    if pool is not None and "user" not in wanted:
        fail("--pool pays people: use it without --by team")
    with handled():
        loaded, engine = config_and_store(config, db)
        try:
            ledger = credit_ledger(
                engine, loaded, model=model.value if model else None, start=first, end=last, by=wanted
            )
            bonus = (
                bonus_pool(ledger, pool, split=split.value, team_split=weights, floor=floor, cap=cap)
                if pool is not None
                else None
            )
        except (ReportError, CreditError) as exc:
            fail(str(exc))
    if json:
        print_json({**ledger, "bonus": bonus}, report="CreditReport")
        return
    _show_ledger(ledger, bonus)


def _team_split(text: str | None) -> dict | None:
    from decimal import Decimal, InvalidOperation

    if text is None:
        return None
    weights = {}
    for part in text.split(","):
        team, _, share = part.strip().partition(":")
        try:
            weights[team.strip()] = Decimal(share.strip().rstrip("%"))
        except InvalidOperation:
            fail(f"--team-split: {part.strip()!r} is not TEAM:SHARE, e.g. marketing:40,sales:60")
    return weights


def _show_ledger(ledger: dict, bonus: dict | None) -> None:
    from rich.table import Table

    span = f"{ledger['from'] or 'the start'} to {ledger['to'] or 'today'}"
    console.print(
        f"Credit ledger, {ledger['model']} model, deals won {span}: {ledger['deals']} deals, "
        f"{_money(ledger['won_revenue'])} won = {_money(ledger['credited_revenue'])} credited + "
        f"{_money(ledger['unattributed']['revenue'])} unattributed ({ledger['unattributed']['deals']} deals without a touch)"
    )
    if ledger["teams"]:
        teams = Table(title="By team (the team of each touch)")
        for column in ("team", "revenue credit", "deals touched", "share"):
            teams.add_column(column, justify="left" if column == "team" else "right")
        for t in ledger["teams"]:
            teams.add_row(t["team"], _money(t["revenue_credit"]), str(t["deals_touched"]), f"{t['share']:.1%}")
        console.print(teams)
    if ledger["people"]:
        paid = {p["user"]: p["payout"] for p in bonus["payouts"]} if bonus else {}
        people = Table(title="By person (touches without a person: the campaign owner)")
        columns = ["person", "team", "revenue credit", "deals touched", "share"] + (["bonus"] if bonus else [])
        for column in columns:
            people.add_column(column, justify="left" if column in ("person", "team") else "right")
        for p in ledger["people"]:
            row = [
                p["name"],
                p["team"] or "-",
                _money(p["revenue_credit"]),
                str(p["deals_touched"]),
                f"{p['share']:.1%}",
            ]
            people.add_row(*row, *([_money(paid.get(p["user"]))] if bonus else []))
        console.print(people)
    if bonus:
        teams_paid = ", ".join(f"{t['team']} {_money(t['pool'])}" for t in bonus["teams"])
        console.print(
            f"Bonus pool {_money(bonus['pool'])} ({bonus['split']}): {teams_paid}; paid {_money(bonus['total_paid'])}"
        )
        if bonus["not_paid"]:
            console.print(f"[yellow]Not paid (team not in the split): {', '.join(bonus['not_paid'])}[/]")
