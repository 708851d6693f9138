"""Economics: what each channel and campaign cost against what it brought (`truce roi`), and what a
different budget might bring (`truce budget`). docs/economics.md explains every rule.

**Spend.** A campaign's spend is its actual_cost, or its budget when no actual cost is recorded,
spread evenly over the days from starts_on to ends_on (both included). A campaign without
ends_on, or ending before it starts, is spent on its start day; one without starts_on cannot
be placed in time and is left out (reported as `undated`). Spend through day k of a campaign
lasting D days is cost × k / D rounded to the cent, and the spend of any period is the
difference of two such sums, so months and periods add up to the campaign's cost exactly.

**ROI** (`roi_report`). Per channel or campaign: spend in the period; attributed pipeline (the
attribution model's credit for deals created, conversion "opportunity", worth their amount)
and attributed revenue (its credit for deals won, conversion "won"); customers = won
conversions credited (fractions under multi-touch models).

    ROI  = (revenue − spend) / spend      ROAS = revenue / spend      CAC = spend / customers

each None when its denominator is zero, and CAC also when nothing was spent (sales touches
carry no campaign cost: a CAC of 0 would say they cost nothing). Totals add up the rows;
the total CAC is all campaign spend over all credited customers (blended). Conversions that
no touch explains are reported apart (`unattributed`). Sourced pipeline: first touch, by
team, conversion "opportunity" — the team whose touch started the journey gets the deal.

**Budget** (`budget_report`). Monthly spend per channel against the revenue the model credits
to the channel in the month of each win (UTC), fitted with truce.domain.response_curves. The
months run from the channel's first month with spend to the last month with credited revenue
(any channel's) before the month in progress; months without spend in between count, as zero. A channel needs 4 months with spend. Its *baseline* is its
average monthly spend over those months. What-if changes and optimiser bounds are relative to
the baseline; the optimiser's total is a monthly budget across the fitted channels.

    roi_report → {"model", "by", "from", "to", "currency",
                  "rows": [{"key", "label", "channel", "spend", "pipeline", "opportunities",
                            "revenue", "customers", "roi", "roas", "cac"}],
                  "totals": {same, key None}, "unattributed": {"pipeline", "opportunities",
                  "revenue", "customers"}, "sourced": {"model", "conversion", "total_pipeline",
                  "rows": [{"team", "pipeline", "opportunities", "share"}]},
                  "undated": {"campaigns", "spend"}}
    budget_report → {"model", "conversion": "won", "currency", "caveat", "level", "draws", "seed",
                     "window": {"first", "last"},            # "YYYY-MM"
                     "channels": [{"channel", "months", "months_with_spend", "a", "b", "r2",
                                   "baseline_spend", "actual_revenue", "baseline_revenue",
                                   "baseline_low", "baseline_high", "marginal_roas", "marginal_low",
                                   "marginal_high", "points": [{"month", "spend", "revenue"}]}],
                     "not_fitted": [{"channel", "months_with_spend", "reason"}], "notes": [str],
                     "what_if": SCENARIO | None,
                     "optimized": SCENARIO + {"total_budget"}, rows + {"low_bound", "high_bound"} | None}
    SCENARIO = {"channels": [{"channel", "baseline_spend", "spend", "change_pct", "baseline_revenue",
                              "baseline_low", "baseline_high", "revenue", "low", "high", "change",
                              "change_low", "change_high"}],
                "total": {the same but channel and change_pct, over every fitted channel}}

Revenue is per month; `low`/`high` bound the projection and `change_low`/`change_high` its
difference from the baseline, each the middle `level` of the bootstrap curves. Money is a float rounded to the cent; rates and curve parameters are floats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where it is used: it brings in SciPy
    from truce.domain.response_curves import ChannelFit

import datetime as dt
import importlib
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import Engine, select

from truce.config import TruceConfig
from truce.store.models import Campaign

CENT = Decimal("0.01")
ZERO = Decimal("0")
ROI_BY = ("channel", "campaign")
NO_KEY = (None, "(none)")  # how attribution names touches without a channel
DEFAULT_BOUNDS = (0.5, 1.5)
WEAK_FIT = 0.3  # R² below this: the curve explains little of the channel's monthly revenue
CAVEAT = (
    "This estimate is correlational. The curves are fitted to the revenue the {model} attribution model "
    "credits to each channel, as it happened: observational attribution, not an experiment. Spend may "
    "follow demand rather than create it, and deals close months after the spend that found them. "
    "Validate a reallocation with a holdout (change a channel in some regions or months and not in "
    "others, and compare) before moving the budget on this estimate alone."
)


class EconomicsError(ValueError):
    """An option the report cannot use; the message names it and what would work."""


# ---- spend -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignCost:
    id: int
    name: str
    channel: str
    cost: Decimal
    first: dt.date | None
    last: dt.date | None

    @property
    def days(self) -> int:
        """Days it ran, both ends included; 0 for a campaign without dates."""
        if self.first is None or self.last is None:
            return 0
        return (self.last - self.first).days + 1

    def through(self, day: dt.date) -> Decimal:
        """Spend on the days up to and including `day`."""
        if self.first is None or day < self.first:
            return ZERO
        done = min((day - self.first).days + 1, self.days)
        return (self.cost * done / self.days).quantize(CENT, rounding=ROUND_HALF_EVEN)

    def within(self, start: dt.date | None, end: dt.date | None) -> Decimal:
        """Spend on the days from start to end, both included (None: open-ended)."""
        before = self.through(start - dt.timedelta(days=1)) if start else ZERO
        return (self.through(end) if end else self.cost) - before


def campaign_costs(engine: Engine) -> list[CampaignCost]:
    """Every campaign with its cost (actual, else budget; none: 0) and the days it ran."""
    query = select(
        Campaign.id,
        Campaign.name,
        Campaign.channel,
        Campaign.actual_cost,
        Campaign.budget,
        Campaign.starts_on,
        Campaign.ends_on,
    ).order_by(Campaign.id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    costs = []
    for row in rows:
        cost = row.actual_cost if row.actual_cost is not None else (row.budget if row.budget is not None else ZERO)
        first = row.starts_on
        last = row.ends_on if first is not None and row.ends_on is not None and row.ends_on >= first else first
        costs.append(CampaignCost(row.id, row.name, row.channel, cost, first, last))
    return costs


def monthly_spend(costs: list[CampaignCost], by: str = "channel") -> dict[tuple[str, str], Decimal]:
    """Spend per (month "YYYY-MM", channel or campaign id) over every dated campaign."""
    spend: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for campaign in costs:
        if campaign.first is None or campaign.last is None:  # both or neither (campaign_costs)
            continue
        key = campaign.channel if by == "channel" else str(campaign.id)
        month = campaign.first.replace(day=1)
        while month <= campaign.last:
            month_end = _next_month(month) - dt.timedelta(days=1)
            spend[month.strftime("%Y-%m"), key] += campaign.within(month, month_end)
            month = _next_month(month)
    return dict(spend)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


# ---- ROI -------------------------------------------------------------------------------------


def _attribution():
    """The attribution service, imported when a report runs (it loads the analytics engine)."""
    return importlib.import_module("truce.services.attribution")


def roi_report(
    engine: Engine,
    config: TruceConfig,
    *,
    model: str | None = None,
    by: str = "channel",
    start: dt.date | None = None,
    end: dt.date | None = None,
    backend: str = "duckdb",
) -> dict:
    """Spend against attributed pipeline and revenue per channel or campaign (rules in the module docstring)."""
    if by not in ROI_BY:
        raise EconomicsError(f"cannot report ROI by {by!r}; choose one of {', '.join(ROI_BY)}")
    _check_period(start, end)
    attribution = _attribution()
    ask = {"model": model, "by": by, "start": start, "end": end, "backend": backend}
    with attribution.one_reading():  # pipeline and who sourced it credit the same journeys
        pipeline = attribution.attribution_report(engine, config, conversion="opportunity", **ask)
        won = attribution.attribution_report(engine, config, conversion="won", **ask)
        sourced = attribution.attribution_report(
            engine,
            config,
            model="first_touch",
            by="team",
            conversion="opportunity",
            start=start,
            end=end,
            backend=backend,
        )
    costs = campaign_costs(engine)
    spend: dict[str | None, Decimal] = defaultdict(Decimal)
    for campaign in costs:
        if campaign.first is not None:
            spend[campaign.channel if by == "channel" else str(campaign.id)] += campaign.within(start, end)
    rows = _roi_rows(spend, pipeline["credits"], won["credits"], costs if by == "campaign" else [])
    undated = [c for c in costs if c.first is None]
    return {
        "model": won["model"],
        "by": by,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "currency": config.company.currency,
        "rows": rows,
        "totals": _roi_row(None, sum(spend.values(), ZERO), *_sums(rows)),
        "unattributed": _unattributed(pipeline, won),
        "sourced": _sourced(sourced),
        "undated": {"campaigns": len(undated), "spend": _money(sum((c.cost for c in undated), ZERO))},
    }


def _roi_rows(spend, pipeline_credits, won_credits, campaigns: list[CampaignCost]) -> list[dict]:
    pipeline = {c["key"]: c for c in pipeline_credits}
    won = {c["key"]: c for c in won_credits}
    named = {str(c.id): c for c in campaigns}
    rows = []
    for key in set(spend) | set(pipeline) | set(won):
        opened, closed = pipeline.get(key, {}), won.get(key, {})
        row = _roi_row(
            key,
            spend.get(key, ZERO),
            float(opened.get("revenue", 0.0)),
            float(opened.get("conversions", 0.0)),
            float(closed.get("revenue", 0.0)),
            float(closed.get("conversions", 0.0)),
        )
        if campaigns:
            campaign = named.get(key)
            row["label"] = campaign.name if campaign else closed.get("label", opened.get("label"))
            row["channel"] = campaign.channel if campaign else None
        rows.append(row)
    rows.sort(key=lambda r: (-r["spend"], -r["revenue"], r["key"] is None, r["key"] or ""))
    return rows


def _roi_row(key, spend: Decimal, pipeline: float, opportunities: float, revenue: float, customers: float) -> dict:
    cost = float(spend)
    return {
        "key": key,
        "label": None,
        "channel": None,
        "spend": _money(spend),
        "pipeline": round(pipeline, 2),
        "opportunities": opportunities,
        "revenue": round(revenue, 2),
        "customers": customers,
        "roi": (revenue - cost) / cost if cost else None,
        "roas": revenue / cost if cost else None,
        "cac": cost / customers if cost and customers else None,
    }


def _unattributed(pipeline: dict, won: dict) -> dict:
    """Conversions no touch in the lookback window explains: in no row, shown so they are not lost."""
    opened, closed = pipeline.get("unattributed") or {}, won.get("unattributed") or {}
    return {
        "pipeline": round(float(opened.get("revenue", 0.0)), 2),
        "opportunities": opened.get("conversions", 0),
        "revenue": round(float(closed.get("revenue", 0.0)), 2),
        "customers": closed.get("conversions", 0),
    }


def _sums(rows: list[dict]) -> tuple[float, float, float, float]:
    pipeline, opportunities, revenue, customers = (
        math.fsum(r[name] for r in rows) for name in ("pipeline", "opportunities", "revenue", "customers")
    )
    return pipeline, opportunities, revenue, customers


def _sourced(report: dict) -> dict:
    total = math.fsum(c["revenue"] for c in report["credits"])
    rows = [
        {
            "team": c["key"],
            "pipeline": round(c["revenue"], 2),
            "opportunities": c["conversions"],
            "share": c["revenue"] / total if total else None,
        }
        for c in report["credits"]
    ]
    rows.sort(key=lambda r: (-r["pipeline"], r["team"] is None, r["team"] or ""))
    return {"model": report["model"], "conversion": "opportunity", "total_pipeline": round(total, 2), "rows": rows}


# ---- budget ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """Monthly spend limits for one channel: money, or shares of its baseline when relative."""

    low: float
    high: float
    relative: bool = False

    def resolve(self, baseline: float) -> tuple[float, float]:
        return (self.low * baseline, self.high * baseline) if self.relative else (self.low, self.high)


def budget_report(
    engine: Engine,
    config: TruceConfig,
    *,
    model: str | None = None,
    what_if: Mapping[str, float] | None = None,
    optimize: bool = False,
    optimize_total: float | None = None,
    bounds: Mapping[str, Bound] | None = None,
    default_bounds: tuple[float, float] = DEFAULT_BOUNDS,
    level: float = 0.9,
    draws: int = 500,
    seed: int = 0,
    as_of: dt.date | None = None,
    backend: str = "duckdb",
) -> dict:
    """Response curves per channel, and a what-if and/or an optimised allocation on them.

    what_if: channel → change of its monthly spend as a fraction (−0.2 is 20 % less).
    optimize_total: a monthly budget to allocate across the fitted channels within bounds
    (channel → Bound; the others default_bounds × baseline); optimize=True without a total
    reallocates the baseline total. as_of: today (UTC) by default; its month is in progress
    and left out of the fit.
    """
    _check_budget(what_if, optimize_total, default_bounds, level, draws)
    credit = _attribution().monthly_credit(engine, config, model=model, by="channel", conversion="won", backend=backend)
    spend = monthly_spend(campaign_costs(engine))
    today = as_of or dt.datetime.now(dt.UTC).date()
    series, not_fitted, window = fit_channels(spend, credit, before=today.strftime("%Y-%m"), draws=draws, seed=seed)
    fits = {channel: found.fit for channel, found in series.items()}
    label = model or config.attribution.model
    report = {
        "model": label,
        "conversion": "won",
        "currency": config.company.currency,
        "caveat": CAVEAT.format(model=label),
        "level": level,
        "draws": draws,
        "seed": seed,
        "window": window,
        "channels": [_fit_row(channel, found, level) for channel, found in series.items()],
        "not_fitted": not_fitted,
        "notes": _notes(fits),
        "what_if": None,
        "optimized": None,
    }
    if what_if:
        report["what_if"] = _what_if(fits, not_fitted, what_if, level)
    if optimize or optimize_total is not None:
        total = optimize_total if optimize_total is not None else sum(f.baseline_spend for f in fits.values())
        report["optimized"] = _optimized(fits, not_fitted, total, bounds or {}, default_bounds, level)
    return report


def _notes(fits) -> list[str]:
    weak = sorted(channel for channel, fit in fits.items() if fit.r2 is None or fit.r2 < WEAK_FIT)
    if not weak:
        return []
    return [
        f"{len(weak)} of {len(fits)} curves explain less than {WEAK_FIT * 100:.0f} % of their channel's month-to-month "
        f"revenue (R² below {WEAK_FIT}): {', '.join(weak)}. Their projections rest on the curve's shape more than "
        "on the data; read their intervals before their point estimates."
    ]


@dataclass(frozen=True)
class Series:
    """A channel's months as fitted: spend and credited revenue, zero-spend months included."""

    months: list[str]
    spend: list[float]
    revenue: list[float]
    fit: ChannelFit


def fit_channels(spend: Mapping[tuple[str, str], Decimal], credit: list[dict], *, before: str, draws: int, seed: int):
    """A curve per channel with 4 months of spend; the others with the reason they have none.

    A channel's months run from its first month with spend to the last month with credited
    revenue (any channel's) before `before` ("YYYY-MM"). Returns (Series by channel, not
    fitted rows, {"first", "last"} months of the window).
    """
    from truce.domain.response_curves import CurveError, fit_channel

    revenue: dict[tuple[str, str], float] = defaultdict(float)
    for row in credit:
        if row["key"] not in NO_KEY and row["month"] < before:
            revenue[row["month"], row["key"]] += float(row["revenue"])
    last = max((month for month, _ in revenue), default=None)
    channels = sorted({channel for _, channel in spend})
    series, not_fitted = {}, []
    for channel in channels:
        spent = sorted(month for month, key in spend if key == channel and spend[month, key] > 0)
        months = _month_range(spent[0], last) if spent and last and spent[0] <= last else []
        x = [float(spend.get((m, channel), ZERO)) for m in months]
        y = [revenue.get((m, channel), 0.0) for m in months]
        try:
            if not spent:
                raise CurveError("no month with spend on record")
            if not months:
                raise CurveError("no credited revenue on record from its first month with spend on")
            series[channel] = Series(months, x, y, fit_channel(x, y, draws=draws, seed=_seed(seed, channel)))
        except CurveError as exc:
            not_fitted.append({"channel": channel, "months_with_spend": sum(1 for v in x if v > 0), "reason": str(exc)})
    for channel in sorted({key for _, key in revenue} - set(channels)):
        not_fitted.append({"channel": channel, "months_with_spend": 0, "reason": "no campaign spend on record"})
    first = min((found.months[0] for found in series.values()), default=None)
    return series, not_fitted, {"first": first, "last": last if series else None}


def _month_range(first: str, last: str) -> list[str]:
    months, day = [], dt.date.fromisoformat(f"{first}-01")
    while day.strftime("%Y-%m") <= last:
        months.append(day.strftime("%Y-%m"))
        day = _next_month(day)
    return months


def _seed(seed: int, channel: str) -> list[int]:
    # One stream per channel, the same whatever other channels exist.
    return [seed, *channel.encode("utf-8")]


def _fit_row(channel: str, found: Series, level: float) -> dict:
    from truce.domain.response_curves import interval

    fit = found.fit
    base_low, base_high = interval(fit.draw_revenue(fit.baseline_spend), level)
    margin_low, margin_high = interval(fit.draw_marginal(fit.baseline_spend), level)
    return {
        "channel": channel,
        "months": fit.months,
        "months_with_spend": fit.months_with_spend,
        "a": fit.curve.a,
        "b": fit.curve.b,
        "r2": fit.r2,
        "baseline_spend": round(fit.baseline_spend, 2),
        "actual_revenue": round(fit.mean_revenue, 2),
        "baseline_revenue": round(float(fit.curve.revenue(fit.baseline_spend)), 2),
        "baseline_low": round(base_low, 2),
        "baseline_high": round(base_high, 2),
        "marginal_roas": float(fit.curve.marginal(fit.baseline_spend)),
        "marginal_low": margin_low,
        "marginal_high": margin_high,
        "points": [
            {"month": month, "spend": round(spent, 2), "revenue": round(credited, 2)}
            for month, spent, credited in zip(found.months, found.spend, found.revenue, strict=True)
        ],
    }


def _known(fits, not_fitted, channel: str, what: str) -> None:
    if channel in fits:
        return
    for row in not_fitted:
        if row["channel"] == channel:
            raise EconomicsError(f"{what}: cannot project {channel}: {row['reason']}")
    known = sorted([*fits, *(r["channel"] for r in not_fitted)])
    raise EconomicsError(f"{what}: unknown channel {channel!r}; known channels: {', '.join(known) or '(none)'}")


def _what_if(fits, not_fitted, changes: Mapping[str, float], level: float) -> dict:
    from truce.domain.response_curves import scenario

    for channel in changes:
        _known(fits, not_fitted, channel, "--what-if")
    spends = {c: fits[c].baseline_spend * (1 + change) for c, change in changes.items()}
    result = _rounded(scenario(fits, spends, level))
    for row in result["channels"]:
        row["change_pct"] = changes.get(row["channel"], 0.0)
    return result


def _optimized(fits, not_fitted, total: float, bounds, default_bounds, level: float) -> dict:
    from truce.domain.response_curves import CurveError, optimize, scenario

    for channel in bounds:
        _known(fits, not_fitted, channel, "--bounds")
    if not fits:
        raise EconomicsError("--optimize: no channel has a curve to optimise")
    limits = {}
    for channel, fit in fits.items():
        bound = bounds.get(channel, Bound(default_bounds[0], default_bounds[1], relative=True))
        limits[channel] = bound.resolve(fit.baseline_spend)
    try:
        spends = optimize({c: f.curve for c, f in fits.items()}, total, limits)
    except CurveError as exc:
        raise EconomicsError(f"--optimize: {exc}") from None
    result = _rounded(scenario(fits, spends, level))
    for row in result["channels"]:
        low, high = limits[row["channel"]]
        row["low_bound"], row["high_bound"] = round(low, 2), round(high, 2)
        base = fits[row["channel"]].baseline_spend
        row["change_pct"] = spends[row["channel"]] / base - 1 if base else None
    result["total_budget"] = round(total, 2)
    return result


def _rounded(result: dict) -> dict:
    money = ("baseline_spend", "spend", "baseline_revenue", "baseline_low", "baseline_high", "revenue", "low", "high")
    for row in [*result["channels"], result["total"]]:
        for name in (*money, "change", "change_low", "change_high"):
            row[name] = round(row[name], 2)
    return result


# ---- parsing and checks -----------------------------------------------------------------------

_CHANNEL = r"[A-Za-z0-9_.\-]+"
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"


def parse_what_if(text: str) -> dict[str, float]:
    """ "paid_search:-20%,webinar:+20%" → {"paid_search": -0.2, "webinar": 0.2}, strictly."""
    changes: dict[str, float] = {}
    for part in _parts(text, "--what-if", 'e.g. "paid_search:-20%,webinar:+20%"'):
        match = re.fullmatch(rf"\s*({_CHANNEL})\s*:\s*({_NUMBER})\s*%\s*", part)
        if not match:
            raise EconomicsError(
                f"--what-if: {part.strip()!r} is not CHANNEL:±N%; write e.g. paid_search:-20% or webinar:+15.5%"
            )
        channel, percent = match.group(1), float(match.group(2))
        if channel in changes:
            raise EconomicsError(f"--what-if names {channel} twice")
        if percent < -100:
            raise EconomicsError(f"--what-if: {channel} cannot fall by more than 100 % (got {percent:g} %)")
        changes[channel] = percent / 100
    return changes


def parse_bounds(text: str) -> dict[str, Bound]:
    """ "paid_search:1000-5000,webinar:50%-200%" → monthly limits in money, or shares of the baseline."""
    bounds: dict[str, Bound] = {}
    for part in _parts(text, "--bounds", 'e.g. "paid_search:1000-5000,webinar:50%-200%"'):
        match = re.fullmatch(rf"\s*({_CHANNEL})\s*:\s*(\d+(?:\.\d*)?)\s*(%?)\s*-\s*(\d+(?:\.\d*)?)\s*(%?)\s*", part)
        if not match or match.group(3) != match.group(5):
            raise EconomicsError(
                f"--bounds: {part.strip()!r} is not CHANNEL:LOW-HIGH in money or in % of the baseline; "
                "write e.g. paid_search:1000-5000 or webinar:50%-200%"
            )
        channel, relative = match.group(1), match.group(3) == "%"
        low, high = float(match.group(2)), float(match.group(4))
        if low > high:
            raise EconomicsError(f"--bounds: {channel}: the low bound {low:g} is above the high bound {high:g}")
        if channel in bounds:
            raise EconomicsError(f"--bounds names {channel} twice")
        bounds[channel] = Bound(low / 100, high / 100, True) if relative else Bound(low, high)
    return bounds


def _parts(text: str, option: str, example: str) -> list[str]:
    parts = [p for p in text.split(",")]
    if not text.strip() or any(not p.strip() for p in parts):
        raise EconomicsError(f"{option}: empty entry in {text!r}; {example}")
    return parts


def _check_period(start, end) -> None:
    for name, day in (("start", start), ("end", end)):
        if day is not None and (not isinstance(day, dt.date) or isinstance(day, dt.datetime)):
            raise EconomicsError(f"{name} must be a date, not {day!r}")
    if start and end and start > end:
        raise EconomicsError(f"the period starts on {start} after it ends on {end}")


def _check_budget(what_if, total, default_bounds, level, draws) -> None:
    for channel, change in (what_if or {}).items():
        if not math.isfinite(change) or change < -1:
            raise EconomicsError(f"--what-if: {channel} cannot change by {change:.0%}; at most −100 %")
    if total is not None and (not math.isfinite(total) or total < 0):
        raise EconomicsError(f"--total must be a sum of money of 0 or more, not {total}")
    low, high = default_bounds
    if not 0 <= low <= high:
        raise EconomicsError(f"default bounds must satisfy 0 ≤ min ≤ max, not {low:.0%}–{high:.0%}")
    if not 0 < level < 1:
        raise EconomicsError(f"the interval level must be between 0 and 1, not {level}")
    if draws < 1:
        raise EconomicsError(f"draws must be at least 1, not {draws}")


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_EVEN))
