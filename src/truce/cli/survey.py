"""The alignment diagnostic: `truce survey take`, `import`, `report`, `statements`."""

from __future__ import annotations

import datetime as dt
import os
from enum import StrEnum
from pathlib import Path
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

survey_app = typer.Typer(
    help="The alignment diagnostic both teams take: 20 statements, scores, perception gaps, target and playbook.",
    no_args_is_help=True,
)
RoundOption = Annotated[
    str | None,
    typer.Option(
        "--round",
        help="The survey round, e.g. 2026-Q4 (a name that spells a period spells one from 1900 to 2999). "
        "Default: the latest round.",
    ),
]
SCALE_WIDTH = 32


class Team(StrEnum):
    sales = "sales"
    marketing = "marketing"


class Role(StrEnum):
    leader = "leader"
    staff = "staff"


def register(app: typer.Typer) -> None:
    app.add_typer(survey_app, name="survey")


def _current_quarter() -> str:
    today = dt.datetime.now(dt.UTC).date()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


@survey_app.command("take")
def take(
    round_name: RoundOption = None,
    actor: Annotated[
        str | None, typer.Option("--as", help="Who answers (a user's email). Default: $TRUCE_USER.", show_default=False)
    ] = None,
    team: Annotated[
        Team | None,
        typer.Option("--team", help="Your team, as your account says (anything else is refused).", show_default=False),
    ] = None,
    role: Annotated[
        Role | None,
        typer.Option(
            "--role", help="leader or staff, as your account says (anything else is refused).", show_default=False
        ),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Answer the 20 statements, one at a time, each from 1 (strongly disagree) to 5 (strongly agree).

    Without --round, answers go to the latest round, or to the current quarter's (e.g. 2026-Q4)
    when there is none. Each person answers once per round.

    Example:  truce survey take --as eva.lind@truce-demo.example
    """
    from truce.services import survey

    with handled():
        loaded, engine = config_and_store(config, db)
        try:
            who = survey.answering_as(
                engine,
                actor or os.environ.get("TRUCE_USER"),
                team.value if team else None,
                role.value if role else None,
            )
            chosen_team = who["team"]
            chosen_round = round_name or survey.latest_round(engine, loaded) or _current_quarter()
            survey.check_not_answered(engine, chosen_round, who["email"])
            if not json:
                console.print(
                    f"Round [bold]{chosen_round}[/]: {who['email']} answering for {chosen_team} "
                    f"({role.value if role else who['role']}). Rate each statement from 1 (strongly disagree) "
                    "to 5 (strongly agree).",
                    highlight=False,
                )
            statements = survey.statements()
            ratings = [
                typer.prompt(
                    f"{s['number']}/{len(statements)} {s['text']}",
                    value_proc=_rating,
                    prompt_suffix=" [1-5]: ",
                    err=json,
                )
                for s in statements
            ]
            kept = survey.record_response(
                engine,
                round_name=chosen_round,
                respondent_email=who["email"],
                team=chosen_team,
                role=role.value if role else who["role"],
                ratings=ratings,
                source="cli",
                actor=who["email"],
            )
        except survey.SurveyError as exc:
            fail(str(exc))
    if json:
        print_json(kept, report="SurveyAnswered")
        return
    console.print(f"Thank you. Your score: [bold]{kept['score']}[/] of 100, {kept['type']}.")


@survey_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="CSV: respondent, team, role, round, s1 … s20; one row per respondent.")],
    actor: Annotated[
        str | None, typer.Option("--as", help="Who is importing, for the audit trail. Default: $TRUCE_USER.")
    ] = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Load survey answers exported from any survey tool: every row or none.

    A respondent who is not a user yet is added as one, on the team they answered for.
    A bad rating, a missing statement, an unknown team or role, or the same respondent twice
    in a round (in the file or already kept) is reported with its line, and nothing is written.

    Example:  truce survey import answers.csv --as owen.price@truce-demo.example
    """
    from truce.services import survey

    with handled():
        engine = open_store(db)
        try:
            result = survey.import_responses(engine, file, actor or os.environ.get("TRUCE_USER") or "cli")
        except survey.SurveyError as exc:
            fail(str(exc))
    if json:
        print_json(result, report="SurveyImported")
        return
    console.print(
        f"{result['responses']} responses imported into round {', '.join(result['rounds'])}; "
        f"{len(result['users_created'])} new users",
        highlight=False,
    )


@survey_app.command("report")
def report(
    round_name: RoundOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json: JsonOption = False,
) -> None:
    """Scores per respondent, team and company; perception gaps; trend; indicators; target and playbook.

    No team figure is shown from fewer respondents than [diagnostic] anonymity_threshold.

    Example:  truce survey report --json
    """
    from truce.services import survey

    with handled():
        loaded, engine = config_and_store(config, db)
        try:
            data = survey.survey_report(engine, loaded, round_name)
        except survey.SurveyError as exc:
            fail(str(exc))
    if json:
        print_json(data, report="SurveyReport")
        return
    _show_report(data)


@survey_app.command("statements")
def list_statements(json: JsonOption = False) -> None:
    """The 20 statements of the diagnostic, with the theme each one measures.

    Example:  truce survey statements --json
    """
    from truce.services.survey import statements

    found = statements()
    if json:
        print_json(found, report="SurveyStatement")
        return
    from rich.table import Table

    table = Table(
        title="The diagnostic: rate each from 1 (strongly disagree) to 5 (strongly agree)", title_justify="left"
    )
    for column in ("#", "statement", "theme"):
        table.add_column(column)
    for s in found:
        table.add_row(s["statement"], s["text"], s["theme"].replace("_", " "))
    console.print(table)


def _rating(text: str) -> int:
    """A typed rating; anything else is asked again."""
    text = text.strip()
    if text not in {"1", "2", "3", "4", "5"}:
        raise typer.BadParameter(
            f"{text!r} is not a rating: type a whole number from 1 (strongly disagree) to 5 (strongly agree)"
        )
    return int(text)


def _scale(score: float | None) -> str:
    """Where a score sits on the 20–100 scale, with the band edges marked."""
    if score is None:
        return ""
    filled = round((score - 20) / 80 * SCALE_WIDTH)
    cells = ["█" if i < filled else "·" for i in range(SCALE_WIDTH)]
    for edge in (40, 60, 80):
        at = round((edge - 20) / 80 * SCALE_WIDTH)
        if cells[at] == "·":
            cells[at] = "|"
    return "".join(cells)


def _number(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _show_report(data: dict) -> None:
    from rich.table import Table

    period = data["period"]
    scores = Table(
        title=f"Round {data['round']}: alignment score (20–100; undefined | defined | aligned | integrated)",
        title_justify="left",
    )
    for column in ("who", "respondents", "score", "spread", "band", "20 ─────────────── 100"):
        scores.add_column(column)
    company = data["company"]
    scores.add_row(
        "company",
        str(company["respondents"]),
        _number(company["score"]),
        _number(company["spread"], ".2f"),
        company["type"] or "withheld",
        _scale(company["score"]),
    )
    for name, team in data["teams"].items():
        band = "withheld" if team["withheld"] else (team["type"] or "-")
        scores.add_row(
            name,
            str(team["respondents"]),
            _number(team["mean"]),
            _number(team["spread"], ".2f"),
            band,
            _scale(team["mean"]),
        )
        for role, stats in (team.get("roles") or {}).items():
            if stats:
                scores.add_row(
                    f"  {role}s",
                    str(stats["respondents"]),
                    _number(stats["mean"]),
                    _number(stats["spread"], ".2f"),
                    stats["type"],
                    _scale(stats["mean"]),
                )
    from truce.cli.common import drop_first

    # The scale is what people look at; the spread and the head count can go first.
    console.print(drop_first(scores, "spread", "respondents"))
    for note in data["notes"]:
        console.print(f"[yellow]{note}[/]", highlight=False)
    if data["respondents"]:
        _show_respondents(data)
    if data["gaps"]:
        gaps = Table(title="Perception gap: sales' mean rating minus marketing's, largest first", title_justify="left")
        for column in ("#", "statement", "sales", "marketing", "gap"):
            gaps.add_column(column)
        for g in data["gaps"][:10]:
            colour = "red" if abs(g["gap"]) >= 1 else "default"
            gaps.add_row(
                g["statement"], g["text"], f"{g['sales']:.2f}", f"{g['marketing']:.2f}", f"[{colour}]{g['gap']:+.2f}[/]"
            )
        console.print(gaps)
    if len(data["trend"]) > 1:
        trend = Table(title="Trend across rounds", title_justify="left")
        for column in ("round", "respondents", "company", "sales", "marketing", "band"):
            trend.add_column(column)
        for t in data["trend"]:
            trend.add_row(
                t["round"],
                str(t["respondents"]),
                _number(t["score"]),
                _number(t["sales"]),
                _number(t["marketing"]),
                t["type"] or "withheld",
            )
        console.print(trend)
    if data["indicators"]:
        _show_indicators(data["indicators"], period)
    target = data["target"]
    console.print(f"\n[bold]Target state: {target['state']}[/] — {target['reason']}", highlight=False)
    _show_playbook(data["playbook"])
    if data.get("initiatives"):
        _show_initiatives(data["initiatives"])


def _show_initiatives(initiatives: list[dict]) -> None:
    """Each adopted move with its indicators at the start and now, and the survey score before and since."""
    from rich.table import Table

    table = Table(title="Moves adopted: did they work?", title_justify="left")
    for column in ("initiative", "owner", "since", "indicator", "at the start", "now", "survey score"):
        table.add_column(column)
    for i in initiatives:
        score = i["score"]
        moved = (
            "-"
            if score["change"] is None
            else f"{score['score_before']} → {score['score_after']} ({score['change']:+})"
        )
        for n, x in enumerate(i["indicators"] or [{"label": "-", "then": None, "now": None}]):
            first = n == 0
            table.add_row(
                i["move_text"] if first else "", i["owner_name"] if first else "", str(i["started_on"]) if first else "",
                x["label"], _indicator(x["then"]), _indicator(x["now"]), moved if first else "",
            )  # fmt: skip
    console.print(table)


def _indicator(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _show_respondents(data: dict) -> None:
    from rich.table import Table

    named = data["respondents_shown"] == "named"
    table = Table(title="Per respondent" + ("" if named else " (anonymous)"), title_justify="left")
    for column in (("respondent", "team", "role") if named else ()) + ("score", "band"):
        table.add_column(column)
    for r in data["respondents"]:
        cells = [r["respondent"], r["team"], r["role"]] if named else []
        table.add_row(*cells, str(r["score"]), r["type"])
    console.print(table)


def _share(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def _show_indicators(ind: dict, period: dict) -> None:
    from rich.table import Table

    table = Table(title=f"Indicators from the data, {period['from']} to {period['to']}", title_justify="left")
    table.add_column("indicator")
    table.add_column("value", justify="right")
    target = ind["shared_target"]
    rows = [
        ("SLA kept by sales", _share(ind["sla_compliance"]["sales"])),
        ("SLA kept by marketing (whole months)", _share(ind["sla_compliance"]["marketing"])),
        ("MQL acceptance rate", _share(ind["mql_acceptance_rate"])),
        ("rejections with a reason", _share(ind["reasons"]["rejections_with_reason"])),
        ("losses with a reason", _share(ind["reasons"]["losses_with_reason"])),
        ("feedback items per seller per month", _number(ind["feedback"]["per_seller_per_month"], ".2f")),
        ("feedback marketing answered", _share(ind["feedback"]["answered_share"])),
        ("shared revenue target", "yes" if target["exists"] else "no"),
        ("shared target attainment", _share(target["attainment"])),
        ("won revenue touched by both teams", _share(ind["both_teams_revenue_share"])),
        ("cold leads held by marketing", str(ind["cold_leads"].get("marketing", 0))),
        ("cold leads held by sales", str(ind["cold_leads"].get("sales", 0))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def _show_playbook(moves: list[dict] | None) -> None:
    if moves is None:
        console.print("No playbook: the current state needs enough respondents to be known.")
        return
    if not moves:
        console.print("No moves needed: the company is at its target state.")
        return
    from rich.table import Table

    table = Table(title=f"Playbook: from {moves[0]['from']} to {moves[0]['to']}", title_justify="left")
    for column in ("move", "carried out with", "progress shows in", "now"):
        table.add_column(column)
    for m in moves:
        table.add_row(m["move"], m["feature"], m["indicator"], _indicator_text(m["indicator"], m["indicator_value"]))
    console.print(table)


def _indicator_text(key: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):  # per team: shares or counts
        return ", ".join(f"{team} {_indicator_text(key, value.get(team))}" for team in ("sales", "marketing"))
    if isinstance(value, float) and not key.endswith("per_month"):
        return f"{value:.0%}"
    return f"{value:.2f}" if isinstance(value, float) else str(value)
