"""Money decided by hand and money foreseen: discount approvals, a target set, the forecast's
backtest, and attribution of a file of journeys.

What `truce discount …`, `truce discounts`, `truce target set|backtest` and
`truce attribution --from-file` print with --json, and what the API's /discount-approvals and
PUT /targets answer.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from truce.reports.base import Moment, Number, Report, Row
from truce.vocabulary import AttributionModelName


class DiscountApproval(Report):
    """A request for a discount beyond policy and the pricing owner's answer."""

    id: int
    opportunity_id: int
    opportunity: str | None
    requested_discount: Number
    policy_limit: Number | None
    reason: str
    request_note: str | None
    requested_by: str | None
    requested_at: Moment
    due_at: Moment | None
    state: str
    decided_by: str | None
    decided_at: Moment | None
    note: str | None
    # in lists only (truce discounts): the clock on an open request
    late: bool | None = None
    hours_left: Number | None = None


class TargetSet(Report):
    """A target written; `created` is false when it replaced `previous_amount`."""

    id: int
    metric: str
    team: str
    period: str
    period_start: Moment
    period_end: Moment
    amount: Decimal | str
    created: bool
    previous_amount: Decimal | str | None


class BacktestPeriod(Row):
    """One past period forecast from what was known on its `as_of` day, against what came in."""

    period: str
    granularity: str
    as_of: Moment
    actual: Decimal | Number
    forecast: Decimal | Number
    error: Decimal | Number | None
    won_to_date: Decimal | Number
    weighted_pipeline: Decimal | Number
    new_business: Decimal | Number
    forecast_reached_odds: Decimal | Number
    forecast_learned_timing: Decimal | Number
    run_rate: Decimal | Number
    open_deals: int
    unknown_stage: int


class ForecastError(Row):
    periods: int
    mape: Number | None
    bias: Number | None
    wape: Number | None
    revenue_bias: Number | None
    skipped: int


class TargetBacktest(Report):
    start: Moment = Field(alias="from")
    end: Moment = Field(alias="to")
    periods: list[BacktestPeriod]
    summary: dict[str, dict[str, ForecastError]]  # granularity → forecast method → its errors
    notes: list[str]


class ChannelCredit(Row):
    channel: str
    conversions: Number
    revenue: Number
    share: Number | None


class JourneyAttribution(Report):
    """Attribution of a table of journeys: what `truce attribution --from-file … --json` prints."""

    model: AttributionModelName
    total_conversions: Number
    total_revenue: Number
    channels: list[ChannelCredit]


__all__ = [
    "BacktestPeriod",
    "ChannelCredit",
    "DiscountApproval",
    "ForecastError",
    "JourneyAttribution",
    "TargetBacktest",
    "TargetSet",
]
