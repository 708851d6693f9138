"""Every report as JSON: the same service function and options as the CLI command, the same JSON as its --json.

Each answer is computed once per revision of the data and shared by every reader
(truce.web.report_cache): at 100,000 contacts a report costs seconds, a repeated read a millisecond.

Two CLI options stay on the command line: `--engine spark` (a Spark session is no job for a
web request) and `truce attribution --from-file` (a path on the server).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from truce.reports import typed
from truce.reports.models import (
    AttributionReport,
    Brief,
    BudgetReport,
    CreditReport,
    CustodyReport,
    DirectoryEntry,
    FeedbackThemes,
    FunnelReport,
    MetricsReport,
    PricingReport,
    RoiReport,
    SlaReport,
    SurveyReport,
    SurveyStatement,
    TargetsReport,
)
from truce.vocabulary import AttributionBy, AttributionModelName, Conversion, JourneyLevel, Team
from truce.web.api_common import (
    At,
    BriefPeriodQuery,
    DayQuery,
    From,
    QueryDay,
    RoundQuery,
    TargetPeriodQuery,
    TextQuery,
    To,
    api_router,
    as_json,
    bad_field,
    clock_limits,
    settings,
    store,
)
from truce.web.app import Caller, allowed
from truce.web.report_cache import cached_report

router = api_router(tags=["reports"])
Reader = Annotated[Caller, Depends(allowed("read_reports"))]
ModelQuery = Annotated[
    AttributionModelName | None, Query(description="Attribution model. Default: [attribution] model in truce.toml")
]
Days = Annotated[int, Query(ge=1, le=3660)]


@router.get("/reports/funnel", summary="The funnel report (as `truce funnel --json`)", response_model=FunnelReport)
@cached_report
def funnel(
    request: Request,
    who: Reader,
    by: Annotated[
        Literal["channel", "segment", "team", "month"] | None, Query(description="Slice every number")
    ] = None,
    start: From = None,
    end: To = None,
    level: Annotated[Literal["contact", "account"], Query()] = "contact",
    window: Annotated[Days, Query(description="Days a cohort has to reach the next stage")] = 90,
    engine: Annotated[
        Literal["duckdb", "store"], Query(description="DuckDB in process, or the store itself")
    ] = "duckdb",
) -> Response:
    from truce.services.funnel import funnel_report

    return as_json(
        typed(
            FunnelReport,
            funnel_report(
                store(request),
                settings(request),
                by=by,
                start=start,
                end=end,
                level=level,
                backend=engine,
                window_days=window,
            ),
        )
    )


@router.get(
    "/reports/sla",
    summary="SLA compliance per side, person and month (as `truce sla --json`)",
    response_model=SlaReport,
)
@cached_report
def sla(request: Request, who: Reader, at: At = None) -> Response:
    from truce.services.sla_report import report

    with clock_limits():
        return as_json(typed(SlaReport, report(store(request), settings(request), at)))


@router.get(
    "/reports/custody", summary="Cold leads and who held them (as `truce custody --json`)", response_model=CustodyReport
)
@cached_report
def custody(request: Request, who: Reader, at: At = None) -> Response:
    from truce.services.custody import cold_leads

    with clock_limits():
        return as_json(typed(CustodyReport, cold_leads(store(request), settings(request), at)))


@router.get(
    "/reports/attribution",
    summary="Credit for conversions and revenue (as `truce attribution --json`)",
    response_model=AttributionReport,
)
@cached_report
def attribution(
    request: Request,
    who: Reader,
    model: ModelQuery = None,
    by: Annotated[AttributionBy, Query()] = "channel",
    level: Annotated[JourneyLevel | None, Query()] = None,
    conversion: Annotated[Conversion | None, Query()] = None,
    lookback: Annotated[Days | None, Query(description="Touches count this many days before a conversion")] = None,
    start: Annotated[QueryDay | None, *DayQuery("from", "First conversion day counted (UTC)")] = None,
    end: Annotated[QueryDay | None, *DayQuery("to", "Last conversion day counted (UTC)")] = None,
) -> Response:
    from truce.services.attribution import attribution_report

    data = attribution_report(
        store(request),
        settings(request),
        model=model,
        by=by,
        conversion=conversion,
        level=level,
        lookback_days=lookback,
        start=start,
        end=end,
    )
    return as_json(typed(AttributionReport, data))


@router.get(
    "/reports/roi",
    summary="Spend against attributed pipeline and revenue (as `truce roi --json`)",
    response_model=RoiReport,
)
@cached_report
def roi(
    request: Request,
    who: Reader,
    model: ModelQuery = None,
    by: Annotated[Literal["channel", "campaign"], Query()] = "channel",
    start: From = None,
    end: To = None,
) -> Response:
    from truce.services.economics import roi_report

    return as_json(
        typed(RoiReport, roi_report(store(request), settings(request), model=model, by=by, start=start, end=end))
    )


@router.get(
    "/reports/budget",
    summary="Response curves, what-if and optimised budget (as `truce budget --json`)",
    response_model=BudgetReport,
)
@cached_report
def budget(
    request: Request,
    who: Reader,
    what_if: Annotated[
        str | None, *TextQuery('Monthly spend changes, e.g. "paid_search:-20%,webinar:+20%"', 2000, "what_if")
    ] = None,
    optimize: Annotated[bool, Query(description="Suggest the allocation of total that maximises revenue")] = False,
    total: Annotated[float | None, Query(ge=0, le=1e13, allow_inf_nan=False, description="Monthly budget")] = None,
    bounds: Annotated[
        str | None, *TextQuery('Per-channel monthly limits, e.g. "paid_search:1000-5000,webinar:50%-200%"', 2000)
    ] = None,
    low: Annotated[float, Query(alias="min", ge=0, le=1e6, allow_inf_nan=False, description="% of baseline")] = 50.0,
    high: Annotated[float, Query(alias="max", ge=0, le=1e6, allow_inf_nan=False, description="% of baseline")] = 150.0,
    model: ModelQuery = None,
) -> Response:
    from truce.services.economics import EconomicsError, budget_report, parse_bounds, parse_what_if

    if total is not None and not optimize:
        raise bad_field("query", "total", message="total is the budget optimize allocates; add optimize=true")
    if bounds is not None and not optimize:
        raise bad_field("query", "bounds", message="bounds limit what optimize may allocate; add optimize=true")
    if low > high:
        raise bad_field("query", "min", message=f"min {low:g} is above max {high:g} (percent of baseline spend)")
    try:
        changes = parse_what_if(what_if) if what_if is not None else None
    except EconomicsError as exc:
        raise bad_field("query", "what_if", message=str(exc)) from None
    try:
        limits = parse_bounds(bounds) if bounds is not None else None
    except EconomicsError as exc:
        raise bad_field("query", "bounds", message=str(exc)) from None
    data = budget_report(
        store(request),
        settings(request),
        model=model,
        what_if=changes,
        optimize=optimize,
        optimize_total=total,
        bounds=limits,
        default_bounds=(low / 100, high / 100),
    )
    return as_json(typed(BudgetReport, data))


@router.get(
    "/reports/pricing",
    summary="List against realised price, discounts and policy (as `truce pricing --json`)",
    response_model=PricingReport,
)
@cached_report
def pricing(request: Request, who: Reader, start: From = None, end: To = None) -> Response:
    from truce.services.pricing import pricing_report

    return as_json(typed(PricingReport, pricing_report(store(request), settings(request), start=start, end=end)))


@router.get(
    "/reports/survey",
    summary="The alignment diagnostic for a round (as `truce survey report --json`)",
    response_model=SurveyReport,
)
@cached_report
def survey(request: Request, who: Reader, round: RoundQuery = None) -> Response:
    from truce.services.survey import survey_report

    return as_json(typed(SurveyReport, survey_report(store(request), settings(request), round)))


@router.get(
    "/reports/feedback-themes",
    summary="What the sales floor said (as `truce feedback themes --json`)",
    response_model=FeedbackThemes,
)
@cached_report
def feedback_themes(request: Request, who: Reader, start: From = None, end: To = None) -> Response:
    from truce.services.feedback import feedback_themes as themes

    return as_json(typed(FeedbackThemes, themes(store(request), start=start, end=end)))


@router.get(
    "/reports/targets",
    summary="Attainment and forecast per target (as `truce target --json`)",
    response_model=TargetsReport,
)
@cached_report
def targets(
    request: Request,
    who: Reader,
    period: TargetPeriodQuery = None,
    at: Annotated[QueryDay | None, *DayQuery("at", "As of the end of this day (UTC). Default: today")] = None,
) -> Response:
    from truce.domain.forecast import PeriodError
    from truce.services.targets import targets_report

    try:
        data = targets_report(store(request), settings(request), period=period, as_of=at)
    except PeriodError as exc:
        raise bad_field("query", "period", message=str(exc)) from None
    return as_json(typed(TargetsReport, data))


@router.get(
    "/reports/credit",
    summary="The credit ledger and a bonus-pool what-if (as `truce credit --json`)",
    response_model=CreditReport,
)
@cached_report
def credit(
    request: Request,
    who: Reader,
    model: ModelQuery = None,
    start: Annotated[QueryDay | None, *DayQuery("from", "First close day counted")] = None,
    end: Annotated[QueryDay | None, *DayQuery("to", "Last close day counted")] = None,
    by: Annotated[Literal["user", "team"] | None, Query(description="Only people or only teams. Default: both")] = None,
    pool: Annotated[str | None, *TextQuery("What-if: share out a bonus pool of this much", 32)] = None,
    split: Annotated[Literal["credit", "team_then_credit"], Query()] = "credit",
    team_split: Annotated[
        str | None, *TextQuery("Teams' shares for team_then_credit, e.g. marketing:40,sales:60", 200, "team_split")
    ] = None,
    floor: Annotated[str | None, *TextQuery("Least payout per person", 32)] = None,
    cap: Annotated[str | None, *TextQuery("Most payout per person", 32)] = None,
) -> Response:
    from truce.services.credit import bonus_pool, credit_ledger

    weights = _team_split(team_split)
    wanted = (by,) if by else ("user", "team")
    if pool is not None and "user" not in wanted:
        raise bad_field("query", "pool", message="a pool pays people: use it without by=team")
    engine, config = store(request), settings(request)
    ledger = credit_ledger(engine, config, model=model, start=start, end=end, by=wanted)
    bonus = (
        bonus_pool(ledger, pool, split=split, team_split=weights, floor=floor, cap=cap) if pool is not None else None
    )
    return as_json(typed(CreditReport, {**ledger, "bonus": bonus}))


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
            raise bad_field(
                "query", "team_split", message=f"{part.strip()!r} is not TEAM:SHARE, e.g. marketing:40,sales:60"
            ) from None
    return weights


@router.get(
    "/reports/metrics", summary="Integrated metrics per group (as `truce metrics --json`)", response_model=MetricsReport
)
@cached_report
def metrics(request: Request, who: Reader, start: From = None, end: To = None) -> Response:
    from truce.services.metrics import group_metrics

    return as_json(typed(MetricsReport, group_metrics(store(request), settings(request), start=start, end=end)))


@router.get(
    "/reports/directory", summary="Who to call (as `truce directory --json`)", response_model=list[DirectoryEntry]
)
@cached_report
def directory(
    request: Request,
    who: Reader,
    team: Annotated[Team | None, Query(description="Only this team")] = None,
) -> Response:
    from truce.services.metrics import directory as people

    return as_json(typed(DirectoryEntry, people(store(request), team=team)))


@router.get(
    "/reports/brief", summary="The joint revenue-meeting brief's data (as `truce brief --json`)", response_model=Brief
)
@cached_report
def brief(
    request: Request,
    who: Reader,
    period: BriefPeriodQuery = None,
    at: Annotated[
        QueryDay | None, *DayQuery("at", "As of the end of this day (company time zone). Default: now")
    ] = None,
) -> Response:
    from truce.services.brief import build_brief

    with clock_limits():
        return as_json(typed(Brief, build_brief(store(request), settings(request), period=period, as_of=at)))


# response_model=dict: the OpenAPI document says "a JSON object"; a Response return type has no schema.
@router.get(
    "/config/funnel",
    summary="The signed funnel: stages, owners, moves, rejection reasons",
    response_model=dict,
)
def funnel_config(request: Request, who: Reader) -> Response:
    funnel = settings(request).funnel
    return as_json(
        {**funnel.model_dump(mode="json"), "moves": {k or "entry": list(v) for k, v in funnel.moves().items()}}
    )


@router.get(
    "/survey/statements",
    summary="The diagnostic's 20 statements (as `truce survey statements --json`)",
    response_model=list[SurveyStatement],
)
def survey_statements(who: Reader) -> Response:
    from truce.services.survey import statements

    return as_json(typed(SurveyStatement, statements()))
