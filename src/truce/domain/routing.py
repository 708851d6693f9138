"""Who gets a new MQL: territory or segment first, then round robin or least loaded.

Only active sellers are ever chosen: a lead routed to someone who left is a lead nobody
works (SuiteCRM's round robin once did exactly that). The rule that chose the owner is
returned in words and stored on the handoff, so "why did I get this lead?" has an answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Seller:
    id: int
    email: str
    region: str | None
    segment: str | None
    active: bool
    open_handoffs: int = 0
    last_assigned_at: dt.datetime | None = None


@dataclass(frozen=True)
class Decision:
    seller_id: int | None
    rule: str  # e.g. "territory EMEA/enterprise, round robin"


def rule_pool(
    rule: str, sellers: Sequence[Seller], region: str | None, segment: str | None
) -> tuple[list[Seller], str]:
    if rule == "territory":
        chosen = [s for s in sellers if region and segment and s.region == region and s.segment == segment]
        return chosen, f"territory {region}/{segment}"
    if rule == "segment":
        return [s for s in sellers if segment and s.segment == segment], f"segment {segment}"
    if rule == "any":
        return list(sellers), "any seller"
    raise ValueError(f"unknown routing rule {rule!r}")


def route(
    sellers: Sequence[Seller], region: str | None, segment: str | None, rules: Sequence[str], strategy: str
) -> Decision:
    """The seller for a lead at an account in `region` and `segment`."""
    active = [s for s in sellers if s.active]
    for rule in rules:
        pool, described = rule_pool(rule, active, region, segment)
        if pool:
            return Decision(_pick(pool, strategy).id, f"{described}, {strategy.replace('_', ' ')}")
    return Decision(None, "no active seller matched any rule")


def _pick(pool: list[Seller], strategy: str) -> Seller:
    waited = lambda s: (s.last_assigned_at or NEVER, s.id)  # noqa: E731 - a sort key, named for reading
    if strategy == "round_robin":
        return min(pool, key=waited)
    if strategy == "least_loaded":
        return min(pool, key=lambda s: (s.open_handoffs, *waited(s)))
    raise ValueError(f"unknown routing strategy {strategy!r}")
