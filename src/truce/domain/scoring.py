"""The MQL score both teams signed in truce.toml: fit points for who the lead is, plus
engagement points for what they did, halving every `half_life_days`.

Pure: the services feed it a contact's facts and touches, and every point it gives comes
back as an item that says why, so `truce score explain` never has to guess.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple

from truce.config import FitRule, Scoring

DAY_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What fit rules look at: the account's attributes and the contact's own."""

    segment: str | None = None
    industry: str | None = None
    region: str | None = None
    employees: int | None = None
    title: str | None = None
    source_channel: str | None = None


class Touch(NamedTuple):
    touch_type: str
    occurred_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ScoreItem:
    """One line of a score: a fit rule (met or not) or one touch, and the points it gave."""

    kind: Literal["fit", "engagement"]
    rule: str  # "segment equals 'enterprise'", or the touch type
    raw_points: float  # the rule's points, or the touch type's points when fresh
    decay: float  # 1 for fit; 0.5 ** (age / half-life) for a touch; 0 for a touch in the future
    points: float  # what it adds to the score
    status: Literal["met", "not met", "missing", "counted", "future", "not scored"]
    field: str | None = None  # fit: the attribute the rule reads
    value: str | None = None  # fit: the lead's value as stored
    occurred_at: dt.datetime | None = None
    age_days: float | None = None

    @property
    def sentence(self) -> str:
        """The item in words, with the arithmetic a person can redo by hand."""
        if self.kind == "fit":
            return _fit_sentence(self)
        return _touch_sentence(self)


@dataclass(frozen=True, slots=True)
class Score:
    points: int  # the exact sum rounded to the nearest integer, halves up
    exact: float
    items: tuple[ScoreItem, ...]

    def crossed(self, threshold: float) -> bool:
        """Whether the score reaches the threshold (the rounded score is the one people see)."""
        return self.points >= threshold


def round_half_up(exact: float) -> int:
    # Float sums carry noise (59.49999999999999 for 59.5); settle it first, or a tie would round down.
    settled = Decimal(repr(exact)).quantize(Decimal("1e-9"))
    return int(settled.to_integral_value(rounding=ROUND_HALF_UP))


def _number(value: float) -> str:
    return f"{value:g}"


def _days(age: float) -> str:
    shown = round(age, 1)
    if shown == int(shown):
        shown = int(shown)
    return f"{shown} day{'' if shown == 1 else 's'}"


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


def describe(rule: FitRule) -> str:
    """A fit rule as a person would say it."""
    if rule.equals is not None:
        return f"{rule.field} equals {rule.equals!r}"
    if rule.one_of is not None:
        return f"{rule.field} is one of {_quoted(rule.one_of)}"
    if rule.contains is not None:
        return f"{rule.field} contains any of {_quoted(rule.contains)}"
    assert rule.at_least is not None  # FitRule holds exactly one test
    return f"{rule.field} at least {_number(rule.at_least)}"


def _fit_sentence(item: ScoreItem) -> str:
    if item.status == "missing":
        return f"{item.rule}: no {item.field} on record, not met: 0"
    shown = item.value if item.field == "employees" else repr(item.value)
    if item.status == "met":
        return f"{item.rule}: {item.field} is {shown}, met: {item.raw_points:+g}"
    return f"{item.rule}: {item.field} is {shown}, not met: 0"


def _touch_sentence(item: ScoreItem) -> str:
    assert item.occurred_at is not None and item.age_days is not None  # every engagement item has both
    when = f"{item.rule} on {item.occurred_at.date().isoformat()}"
    if item.status == "future":
        return f"{when}, {_days(-item.age_days)} in the future: not counted until it has happened: 0"
    when = f"{when}, {_days(item.age_days)} ago"
    if item.status == "not scored":
        return f"{when}: not scored ([scoring.engagement] gives {item.rule!r} no points): 0"
    return f"{when}: {_number(item.raw_points)} × {item.decay:.3f} = {item.points:.2f}"


def touch_key(touch_type: str) -> str:
    """Touch types as the importer stores them: trimmed, lower case, spaces as underscores."""
    return touch_type.strip().lower().replace(" ", "_")


class _FitTest:
    """One fit rule, with its words case-folded once rather than once per lead."""

    def __init__(self, rule: FitRule) -> None:
        self.rule, self.field, self.text, self.points = rule, rule.field, describe(rule), float(rule.points)
        if rule.equals is not None:
            self.words: set[str] | list[str] = {rule.equals.strip().casefold()}
        elif rule.one_of is not None:
            self.words = {w.strip().casefold() for w in rule.one_of}
        elif rule.contains is not None:
            self.words = [w.strip().casefold() for w in rule.contains]

    def met(self, value) -> bool | None:
        """Whether the lead's value passes the test; None when the lead has no value at all."""
        if value is None or not str(value).strip():
            return None
        if self.rule.at_least is not None:
            return value >= self.rule.at_least
        folded = str(value).casefold()
        if self.rule.contains is not None:
            return any(word in folded for word in self.words)
        return folded.strip() in self.words

    def item(self, facts: LeadFacts) -> ScoreItem:
        value = getattr(facts, self.field)
        met = self.met(value)
        if met is None:
            return ScoreItem("fit", self.text, self.points, 1.0, 0.0, "missing", self.field)
        status: Literal["met", "not met"]
        status, points = ("met", self.points) if met else ("not met", 0.0)
        return ScoreItem("fit", self.text, self.points, 1.0, points, status, self.field, str(value))


class Scorer:
    """The rules of one truce.toml, prepared once and applied to many leads."""

    def __init__(self, rules: Scoring) -> None:
        self.rules, self.half_life = rules, rules.half_life_days
        self.fit = [_FitTest(rule) for rule in rules.fit]
        self.engagement = {touch_key(kind): points for kind, points in rules.engagement.items()}
        self._raw_of: dict[str, float | None] = {}

    def _raw(self, touch_type: str) -> float | None:
        """The touch type's points when fresh, None if truce.toml gives it none."""
        if touch_type not in self._raw_of:
            self._raw_of[touch_type] = self.engagement.get(touch_key(touch_type))
        return self._raw_of[touch_type]

    def score(self, facts: LeadFacts, touches: Iterable[Touch], now: dt.datetime) -> Score:
        _aware(now)
        items = [test.item(facts) for test in self.fit]
        items += [self._touch(touch, now) for touch in _newest_first(touches)]
        exact = sum(item.points for item in items)
        return Score(round_half_up(exact), exact, tuple(items))

    def points(self, facts: LeadFacts, touches: Iterable[Touch], now: dt.datetime) -> int:
        """`score(...).points` without building the explanation, for a bulk refresh.

        It adds the same terms in the same order as `score` (the items that give 0 add
        nothing), so the float sum, and so the rounding, is identical.
        """
        _aware(now)
        exact = 0.0
        for test in self.fit:
            if test.met(getattr(facts, test.field)):
                exact += test.points
        for touch in _newest_first(touches):
            raw = self._raw(touch.touch_type)
            age = (now - touch.occurred_at).total_seconds() / DAY_SECONDS
            if raw is not None and age >= 0:
                exact += raw * 0.5 ** (age / self.half_life)
        return round_half_up(exact)

    def _touch(self, touch: Touch, now: dt.datetime) -> ScoreItem:
        age = (now - touch.occurred_at).total_seconds() / DAY_SECONDS
        raw = self._raw(touch.touch_type)
        status: Literal["future", "not scored", "counted"]
        if age < 0:
            status, decay = "future", 0.0
        else:
            status, decay = ("not scored" if raw is None else "counted"), 0.5 ** (age / self.half_life)
        points = raw * decay if raw is not None and status == "counted" else 0.0
        return ScoreItem(
            "engagement",
            touch.touch_type,
            raw or 0.0,
            decay,
            points,
            status,
            occurred_at=touch.occurred_at,
            age_days=age,
        )


def _aware(now: dt.datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("scoring needs an aware `now`; a naive time has no zone")


def _newest_first(touches: Iterable[Touch]) -> list[Touch]:
    return sorted(touches, key=lambda t: t.occurred_at, reverse=True)


def score(facts: LeadFacts, touches: Iterable[Touch], now: dt.datetime, rules: Scoring) -> Score:
    """The lead's score at `now`, with an item for every fit rule and every touch."""
    return Scorer(rules).score(facts, touches, now)
