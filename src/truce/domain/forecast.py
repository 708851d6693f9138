"""Periods, attainment and the revenue forecast: plain Python over plain records, no I/O.

The forecast of a period's won revenue, as of a day (everything up to the end of that day, UTC,
is known; nothing after it is):

    forecast = won so far + weighted open pipeline + new business

- won so far: deals won with a close date from the period's start up to the as-of day;
- weighted open pipeline: every deal open at the end of the as-of day whose close date falls in
  the period, times P(won | the stage it was in then, closing within the h days left);
- new business: deals not created yet that will be created and won before the period ends,
  estimated from the same-length windows just before the as-of day (see `new_business`).

The run-rate (won so far ÷ days elapsed × days in the period) is reported beside it, but not
added to the pipeline: it already projects the remaining days, so adding the pipeline that will
close in them would count those deals twice.

The stage odds are learned from the deals closed by the as-of day, and only from them (a deal
that closed later was open then and teaches nothing): the share of the time deals spent in S
during their last h days that belonged to deals that were won (`learn_stage_odds`), smoothed
with Laplace's rule of succession, (won + 1) / (all + 2), so no stage is ever certain to win or
to lose. The textbook odds — the share of the deals that ever reached S that were won — are kept
for comparison (`learn_reached_odds`); on the demo company they over-forecast by a third,
because a deal still in an early stage days before its close date usually loses.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from truce.domain import calendar_range

CENT = Decimal("0.01")
TIMINGS = ("close_date", "learned")
NEW_BUSINESS_WINDOWS = 4


class PeriodError(ValueError):
    """A period the caller wrote that is not one: the message says what would be."""


class PeriodOutsideCalendar(PeriodError, calendar_range.OutsideCalendar):
    """A period, well written, that starts or ends outside the calendar truce accepts (truce.domain.calendar_range)."""


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # the last day, inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        s, e = self.start, self.end
        if s.day == 1 and e == _month_end(e.year, e.month):
            if s.month == 1 and e.month == 12 and s.year == e.year:
                return f"{s.year}"
            if s.year == e.year and e.month == s.month + 2 and s.month % 3 == 1:
                return f"{s.year}-Q{(s.month + 2) // 3}"
            if (s.year, s.month) == (e.year, e.month):
                return f"{s.year}-{s.month:02d}"
        return f"{s.isoformat()}..{e.isoformat()}"

    def elapsed(self, as_of: dt.date) -> int:
        """Days of the period up to and including the as-of day (0 before it starts)."""
        return max(0, min((as_of - self.start).days + 1, self.days))


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def parse_period(text: str | None = None, *, start: dt.date | None = None, end: dt.date | None = None) -> Period:
    """A year ("2026"), a quarter ("2026-Q4"), a month ("2026-11"), or explicit first and last days,
    all within the calendar truce accepts (truce.domain.calendar_range)."""
    if text is not None and (start or end):
        raise PeriodError("give a period (e.g. 2026-Q4) or a start and end date, not both")
    if text is None:
        if start is None or end is None:
            raise PeriodError("a period needs both a start and an end date (or write it as 2026-Q4, 2026-11 or 2026)")
        if end < start:
            raise PeriodError(f"the period ends on {end} before it starts on {start}")
        if start < calendar_range.FIRST_DAY or end > calendar_range.LAST_DAY:
            raise PeriodOutsideCalendar(calendar_range.outside(f"{start}..{end}"))
        return Period(start, end)
    written = text.strip()
    if m := re.fullmatch(r"(\d{4})", written):
        return containing("year", dt.date(_year(m[1], written), 1, 1))
    if m := re.fullmatch(r"(\d{4})-[qQ]([1-4])", written):
        return containing("quarter", dt.date(_year(m[1], written), 3 * int(m[2]) - 2, 1))
    if (m := re.fullmatch(r"(\d{4})-(\d{2})", written)) and 1 <= int(m[2]) <= 12:
        return containing("month", dt.date(_year(m[1], written), int(m[2]), 1))
    raise PeriodError(f"not a period: {text!r}; write a year (2026), a quarter (2026-Q4) or a month (2026-11)")


def _year(digits: str, written: str) -> int:
    try:
        return calendar_range.check_year(int(digits), written)
    except calendar_range.OutsideCalendar as exc:
        raise PeriodOutsideCalendar(str(exc)) from None


def containing(kind: str, day: dt.date) -> Period:
    """The year, quarter or month that holds the day, unchecked: "the period before" the first
    one in range is still a period (1899 before 1900), only not one a caller may ask for."""
    if kind == "year":
        return Period(dt.date(day.year, 1, 1), dt.date(day.year, 12, 31))
    if kind == "quarter":
        first_month = 3 * ((day.month - 1) // 3) + 1
        return Period(dt.date(day.year, first_month, 1), _month_end(day.year, first_month + 2))
    if kind == "month":
        return Period(dt.date(day.year, day.month, 1), _month_end(day.year, day.month))
    raise ValueError(f"unknown kind of period {kind!r}; choose year, quarter or month")


def months_and_quarters(first: dt.date, last: dt.date) -> list[Period]:
    """Every calendar month and quarter that lies wholly within [first, last], months first."""
    found = []
    for size in (1, 3):
        year, month = first.year, first.month
        while True:
            if size == 3:
                month = 3 * ((month - 1) // 3) + 1
            start = dt.date(year, month, 1)
            end_month = month + size - 1
            end = _month_end(year, end_month)
            if end > last:
                break
            if start >= first:
                found.append(Period(start, end))
            year, month = (year + 1, 1) if end_month == 12 else (year, end_month + 1)
    return found


def cents(value: Decimal | Fraction | int) -> Decimal:
    """Money rounded half to even at the cent (Fractions divided exactly first)."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


def share(part, whole) -> float | None:
    return None if not whole else float(Fraction(str(part)) / Fraction(str(whole)))


def run_rate(actual, elapsed_days: int, total_days: int):
    """What the whole period brings at the pace of the part seen; None before it starts."""
    if elapsed_days <= 0:
        return None
    projected = Fraction(str(actual)) * total_days / elapsed_days
    return cents(projected) if isinstance(actual, Decimal) else float(projected)


# ---- deals and what was known about them on a day ------------------------------------------------


@dataclass(frozen=True)
class Deal:
    """An opportunity as the store holds it today, with its stage history."""

    id: int
    amount: Decimal
    status: str  # open, won or lost — today
    created_at: dt.datetime
    close_date: dt.date | None  # the actual close for a closed deal, the expected one while open
    stage: str  # today
    moves: tuple[tuple[dt.datetime, str], ...] = ()  # (changed_at, to_stage), oldest first

    def closed_by(self, as_of: dt.date) -> bool:
        return self.status != "open" and self.close_date is not None and self.close_date <= as_of

    def open_at(self, as_of: dt.date) -> bool:
        return self.created_at < end_of(as_of) and not self.closed_by(as_of)

    def won_by(self, as_of: dt.date) -> bool:
        return self.status == "won" and self.closed_by(as_of)


def end_of(day: dt.date) -> dt.datetime:
    """The first moment after the day (UTC): what happened before it was known on that day."""
    after = day + dt.timedelta(days=1)
    return dt.datetime(after.year, after.month, after.day, tzinfo=dt.UTC)


def stage_on(deal: Deal, as_of: dt.date, closing: frozenset[str]) -> str | None:
    """The open stage a deal was in at the end of the day; without any ledger row, today's stage.

    None when the ledger has no open stage for it by then (its rows start later), or when it has
    no rows and is closed today, so its stage then is unknown.
    """
    if not deal.moves:
        return None if deal.stage in closing else deal.stage
    cutoff = end_of(as_of)
    before = [stage for at, stage in deal.moves if at < cutoff and stage not in closing]
    return before[-1] if before else None


def closed_at(deal: Deal, closing: frozenset[str]) -> dt.datetime:
    """When a closed deal closed: its move into a closing stage, else the end of its close day."""
    assert deal.close_date is not None  # asked only of deals closed_by() a day, which have one
    day_end = end_of(deal.close_date)
    return next((at for at, stage in reversed(deal.moves) if stage in closing and at < day_end), day_end)


def stage_spans(deal: Deal, until: dt.datetime, closing: frozenset[str]) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """(stage, entered, left) for each open stage the ledger shows before `until`; the last one
    lasts until the next move, or `until`."""
    moves = [(at, stage) for at, stage in deal.moves if at < until]
    spans = []
    for i, (entered, stage) in enumerate(moves):
        left = moves[i + 1][0] if i + 1 < len(moves) else until
        if stage not in closing and left > entered:
            spans.append((stage, entered, left))
    return spans


_FLOAT_STEPS = 2**1074  # 2**-1074 is the smallest step between floats


def _in_float_steps(seconds: Fraction | float) -> int:
    """`seconds` (a float, or a Fraction of one) as a whole number of 2**-1074 steps, exactly."""
    numerator, denominator = seconds.as_integer_ratio()
    steps, rest = divmod(_FLOAT_STEPS, denominator)
    if rest:
        raise ValueError(f"{seconds!r} seconds is not a float's value")
    return numerator * steps


def _overlap(lo: dt.datetime, hi: dt.datetime, start: dt.datetime, end: dt.datetime) -> Fraction:
    """Seconds of [lo, hi) inside [start, end), as a Fraction (0 when they do not meet)."""
    seconds = (min(hi, end) - max(lo, start)).total_seconds()
    return Fraction(seconds) if seconds > 0 else Fraction(0)


# ---- P(won | stage), learned ---------------------------------------------------------------------


@dataclass
class StageOdds:
    """Time deals spent in each stage, and the part of it spent by deals that went on to win.

    A deal's time counts in units of the horizon (a deal in a stage for all of its last h days
    counts as 1). P(won | S) = (won time + 1) / (time + 2): Laplace's rule of succession, so no
    stage is ever certain to win or to lose. An unknown stage gets the overall odds.
    """

    horizon_days: int
    deals: dict[str, set[int]] = field(default_factory=dict)
    won_deals: dict[str, set[int]] = field(default_factory=dict)
    all_weight: Fraction = Fraction(0)
    all_won: Fraction = Fraction(0)
    # Seconds summed exactly as whole multiples of 2**-1074 (every float's step): adding Fractions
    # one span at a time was most of a forecast's time, and the sums are the same rationals.
    _seconds: dict[str, int] = field(default_factory=dict, repr=False)
    _won_seconds: dict[str, int] = field(default_factory=dict, repr=False)

    def add(self, stage: str, deal_id: int, seconds: Fraction | float, won_seconds: Fraction | float) -> None:
        if seconds <= 0:
            return
        self._seconds[stage] = self._seconds.get(stage, 0) + _in_float_steps(seconds)
        self._won_seconds[stage] = self._won_seconds.get(stage, 0) + _in_float_steps(won_seconds)
        self.deals.setdefault(stage, set()).add(deal_id)
        if won_seconds > 0:
            self.won_deals.setdefault(stage, set()).add(deal_id)

    @property
    def time(self) -> dict[str, Fraction]:
        """Time spent in each stage, in units of the horizon."""
        return {stage: self._in_horizons(steps) for stage, steps in self._seconds.items()}

    @property
    def won_time(self) -> dict[str, Fraction]:
        """The part of it spent by deals that went on to win."""
        return {stage: self._in_horizons(steps) for stage, steps in self._won_seconds.items()}

    def _in_horizons(self, steps: int) -> Fraction:
        return Fraction(steps, _FLOAT_STEPS * self.horizon_days * 86_400)

    def probability(self, stage: str | None) -> Fraction:
        if stage is None or stage not in self._seconds:
            return (self.all_won + 1) / (self.all_weight + 2)
        won, time = self._in_horizons(self._won_seconds[stage]), self._in_horizons(self._seconds[stage])
        return (won + 1) / (time + 2)

    def rows(self) -> list[dict]:
        order = sorted(self._seconds, key=lambda s: (-len(self.deals[s]), s))
        found = [
            {
                "stage": s,
                "deals": len(self.deals[s]),
                "won_deals": len(self.won_deals.get(s, ())),
                "probability": float(self.probability(s)),
            }
            for s in order
        ]
        return found + [
            {"stage": "(unknown)", "deals": None, "won_deals": None, "probability": float(self.probability(None))}
        ]


def learn_stage_odds(deals: Iterable[Deal], as_of: dt.date, closing: frozenset[str], horizon_days: int) -> StageOdds:
    """P(won | a deal is in stage S and closes within h days), learned from deals closed by the as-of day.

    Look at every closed deal on each moment of its last h days before closing: the odds for S
    are the share of the moments spent in S that belong to deals that were won. A deal that is
    still in an early stage days before its close date usually loses, and these odds know it,
    where the share of deals that ever reached S does not (docs/targets.md shows the difference
    in the back-test). Deals closed after the as-of day teach nothing: they were open then.
    Overall odds (for an unknown stage): the closed deals' win rate, smoothed the same way.
    """
    odds = StageOdds(horizon_days)
    window = dt.timedelta(days=horizon_days)
    for deal in deals:
        if not deal.closed_by(as_of):
            continue
        won = deal.status == "won"
        odds.all_weight += 1
        odds.all_won += won
        closed = closed_at(deal, closing)
        for stage, entered, left in stage_spans(deal, closed, closing):
            seconds = _overlap(entered, left, closed - window, closed)
            odds.add(stage, deal.id, seconds, seconds if won else Fraction(0))
    return odds


def learn_reached_odds(deals: Iterable[Deal], as_of: dt.date, closing: frozenset[str]) -> StageOdds:
    """The textbook odds: of the deals closed by the as-of day that ever reached S, the share won
    (smoothed). Kept for comparison: the back-test shows it over-forecasts (docs/targets.md)."""
    odds = StageOdds(1)
    for deal in deals:
        if not deal.closed_by(as_of):
            continue
        won = deal.status == "won"
        odds.all_weight += 1
        odds.all_won += won
        for stage in {stage for stage, _, _ in stage_spans(deal, closed_at(deal, closing), closing)}:
            odds.add(stage, deal.id, Fraction(86_400), Fraction(86_400 if won else 0))
    return odds


def learn_win_within(deals: Iterable[Deal], as_of: dt.date, closing: frozenset[str], days: int) -> StageOdds:
    """P(won within r days | a deal is in stage S now), for when close dates cannot be trusted.

    Every moment a deal (closed or still open) spent in S up to r days before the end of the
    as-of day is a look whose outcome was known by then: was it won within the next r days? The
    odds for S are the share of those moments that were. Nothing after the as-of day is used.
    """
    odds = StageOdds(days)
    cutoff = end_of(as_of)
    limit = cutoff - dt.timedelta(days=days)
    for deal in deals:
        if deal.created_at >= cutoff:
            continue
        won = deal.won_by(as_of)
        until = closed_at(deal, closing) if deal.closed_by(as_of) else cutoff
        for stage, entered, left in stage_spans(deal, until, closing):
            seconds = _overlap(entered, left, entered, limit)
            won_seconds = _overlap(entered, left, until - dt.timedelta(days=days), limit) if won else 0
            odds.add(stage, deal.id, seconds, Fraction(won_seconds))
            odds.all_weight += seconds / (days * 86_400)
            odds.all_won += Fraction(won_seconds) / (days * 86_400)
    return odds


def new_business(deals: Iterable[Deal], as_of: dt.date, days_left: int, windows: int = NEW_BUSINESS_WINDOWS) -> Decimal:
    """Revenue from deals created and won within the r days after the as-of day, expected.

    The average, over the `windows` r-day windows just before it (the last one ending on the
    as-of day), of the revenue won from deals created and closed inside the same window. All of
    it was known on the as-of day.
    """
    if days_left <= 0:
        return Decimal("0.00")
    # A target may span centuries (explicit first and last days): windows that would start
    # before the first day a date can hold are cut there, and ones wholly before it are empty.
    cut = [
        (_days_before(as_of, k * days_left - 1) or dt.date.min, _days_before(as_of, (k - 1) * days_left))
        for k in range(1, windows + 1)
    ]
    bounds = [(lo, hi) for lo, hi in cut if hi is not None]
    total = Decimal(0)
    for deal in deals:
        if not deal.won_by(as_of) or deal.close_date is None:  # a won deal always has its close date
            continue
        created = deal.created_at.date()
        total += sum((deal.amount for lo, hi in bounds if lo <= created and deal.close_date <= hi), Decimal(0))
    return cents(Fraction(total) / windows)


def _days_before(day: dt.date, days: int) -> dt.date | None:
    """The day `days` days before, or None when that is before year 1."""
    try:
        return day - dt.timedelta(days=days)
    except OverflowError:
        return None


# ---- the forecast --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevenueForecast:
    period: Period
    as_of: dt.date
    won_to_date: Decimal
    weighted_pipeline: Decimal
    new_business: Decimal
    open_deals: int  # counted in the weighted pipeline
    open_amount: Decimal
    unknown_stage: int  # of those, deals whose stage on the as-of day is unknown (overall odds used)
    run_rate: Decimal | None
    timing: str

    @property
    def forecast(self) -> Decimal:
        return self.won_to_date + self.weighted_pipeline + self.new_business

    def as_dict(self) -> dict:
        return {
            "won_to_date": self.won_to_date,
            "weighted_pipeline": self.weighted_pipeline,
            "new_business": self.new_business,
            "forecast": self.forecast,
            "run_rate": self.run_rate,
            "open_deals": self.open_deals,
            "open_amount": self.open_amount,
            "unknown_stage": self.unknown_stage,
            "timing": self.timing,
        }


def won_between(deals: Iterable[Deal], first: dt.date, last: dt.date) -> Decimal:
    return sum(
        (d.amount for d in deals if d.status == "won" and d.close_date and first <= d.close_date <= last),
        Decimal("0.00"),
    )


def forecast_revenue(
    deals: Sequence[Deal],
    period: Period,
    as_of: dt.date,
    closing: frozenset[str],
    *,
    timing: str = "close_date",
    odds: StageOdds | None = None,
) -> RevenueForecast:
    """The period's won revenue as it looked at the end of the as-of day (see the module's rules).

    timing "close_date": an open deal counts when its close date falls within the period (one
    already passed counts too: the deal is still open, so still expected; one before the period
    began does not), weighted by `learn_stage_odds` over the days left. timing "learned": every
    open deal counts, weighted by `learn_win_within` — for when close dates are not to be
    trusted. `odds` overrides the learned odds (the back-test compares the textbook ones).
    A period not begun yet gets the open deals expected in it and new business over its whole
    length (deals created before it starts and won within it are not estimated).
    """
    if timing not in TIMINGS:
        raise ValueError(f"unknown timing {timing!r}; choose one of {', '.join(TIMINGS)}")
    zero = Decimal("0.00")
    won = won_between(deals, period.start, min(as_of, period.end)) if as_of >= period.start else zero
    if as_of >= period.end:
        return RevenueForecast(period, as_of, won, zero, zero, 0, zero, 0, won, timing)
    days_left = (period.end - as_of).days
    if odds is None:
        learn = learn_stage_odds if timing == "close_date" else learn_win_within
        odds = learn(deals, as_of, closing, days_left)
    weighted, count, amount, unknown = Fraction(0), 0, zero, 0
    for deal in deals:
        if not deal.open_at(as_of):
            continue
        if timing == "close_date" and not (deal.close_date and period.start <= deal.close_date <= period.end):
            continue
        stage = stage_on(deal, as_of, closing)
        unknown += stage is None
        weighted += Fraction(deal.amount) * odds.probability(stage)
        count += 1
        amount += deal.amount
    return RevenueForecast(
        period=period,
        as_of=as_of,
        won_to_date=won,
        weighted_pipeline=cents(weighted),
        new_business=new_business(deals, as_of, min(days_left, period.days)),
        open_deals=count,
        open_amount=amount,
        unknown_stage=unknown,
        run_rate=run_rate(won, period.elapsed(as_of), period.days),
        timing=timing,
    )


# ---- back-test errors ----------------------------------------------------------------------------


def errors(pairs: Iterable[tuple[Decimal | None, Decimal]]) -> dict:
    """Over periods with revenue (a period without any is left out, and counted as skipped):
    MAPE, mean |forecast − actual| / actual; bias, mean (forecast − actual) / actual; and the
    revenue-weighted pair, which a month with little revenue cannot dominate: WAPE,
    Σ|forecast − actual| / Σactual, and revenue_bias, Σ(forecast − actual) / Σactual."""
    ratios, kept, skipped = [], [], 0
    for forecast, actual in pairs:
        if forecast is None or not actual:
            skipped += 1
            continue
        kept.append((Fraction(forecast), Fraction(actual)))
        ratios.append(float((Fraction(forecast) - Fraction(actual)) / Fraction(actual)))
    if not ratios:
        return {"periods": 0, "mape": None, "bias": None, "wape": None, "revenue_bias": None, "skipped": skipped}
    return {
        "periods": len(ratios),
        "mape": sum(abs(r) for r in ratios) / len(ratios),
        "bias": sum(ratios) / len(ratios),
        "wape": float(sum(abs(f - a) for f, a in kept) / sum(a for _, a in kept)),
        "revenue_bias": float(sum(f - a for f, a in kept) / sum(a for _, a in kept)),
        "skipped": skipped,
    }
