"""Attribution inputs as Ibis expressions: they run on DuckDB, on Spark and in the store.

Every function takes a table of touches, one row per touch, with these columns:

    journey     int64   the journey the touch belongs to
    ts          int64   when, in microseconds since 1970-01-01 UTC
    key         int64   what is credited, coded 0 … K−1 (a channel, campaign, team or person)
    converted   boolean whether the journey converted (the same on all its rows)
    revenue     float64 the journey's revenue if it converted (the same on all its rows)
    conv_ts     int64   when it converted, or its last touch if it did not (microseconds)

and, for the milestone models only (w_shaped, full_path), when the journey's lead was
created and its opportunity was created (`lc_ts`, `oc_ts`, microseconds, null when there is
no such event) and whether its conversion closes a deal (`closes`, boolean).

A journey's touches are in the order (ts, key): touches at the same instant are ordered by
key. Every result is small — a row per key, per transition or per channel set — and the
exact maths on it (truce.domain.attribution) happens in Python.
"""

from __future__ import annotations

import math

import ibis
import ibis.expr.types as ir

from truce.domain.attribution import registry
from truce.domain.attribution.registry import MILESTONE_MODELS
from truce.domain.attribution.registry import RULE_MODELS as HEURISTICS

MICROS_PER_DAY = 86_400_000_000


def ordered(touches: ir.Table) -> ir.Table:
    """The touches with their place in the journey (`pos`, from 0) and the journey's length `n`."""
    in_order = ibis.window(group_by=touches.journey, order_by=[touches.ts, touches.key])
    whole = ibis.window(group_by=touches.journey)
    return touches.mutate(pos=ibis.row_number().over(in_order), n=touches.count().over(whole))


def heuristic_credit(touches: ir.Table, model: str, half_life_days: float = 7.0, *, periods: bool = False) -> ir.Table:
    """key, conversions, revenue: the credit every key earns under a rule-based model.

    periods: group by the touches' `period` column too (the month of the conversion).

    first_touch / last_touch: the first / last touch takes all. linear: every touch the
    same share, repeats included. time_decay: a touch's weight halves every half-life
    before the conversion, 2^(−Δdays / half_life), weights normalised per journey.
    position_based: 40 % first, 40 % last, 20 % shared by the touches between; one touch
    takes all, two share 50/50. w_shaped: 30 % each to the first touch, the lead-creation
    touch and the opportunity-creation touch, 10 % shared by the rest. full_path: 22.5 %
    each to those three and the closing touch, 10 % shared by the rest. For the milestone
    models a touch that is two milestones takes both shares; a milestone that did not happen
    (no touch before it) drops out and the remaining weights are scaled back up to 100 %;
    when no touch is left for "the rest", its share is scaled away the same way.
    """
    if model not in HEURISTICS:
        raise ValueError(f"unknown rule-based model {model!r}")
    won = ordered(touches.filter(touches.converted))
    if model in MILESTONE_MODELS:
        won = _milestones(won)
    weight = _weights(won, model, half_life_days)
    credited = won.mutate(weight=weight)
    credited = credited.mutate(weight=credited.weight / credited.weight.sum().over(ibis.window(group_by=won.journey)))
    keys = ["period", "key"] if periods else ["key"]
    return (
        credited.group_by(keys)
        .aggregate(conversions=credited.weight.sum(), revenue=(credited.weight * credited.revenue).sum())
        .order_by(keys)
    )


def heuristic_weights(touches: ir.Table, model: str, half_life_days: float = 7.0) -> ir.Table:
    """journey, key, weight: each converting journey's split among its keys (weights sum to 1)."""
    if model not in HEURISTICS:
        raise ValueError(f"unknown rule-based model {model!r}")
    won = ordered(touches.filter(touches.converted))
    if model in MILESTONE_MODELS:
        won = _milestones(won)
    credited = won.mutate(weight=_weights(won, model, half_life_days))
    credited = credited.mutate(weight=credited.weight / credited.weight.sum().over(ibis.window(group_by=won.journey)))
    return credited.group_by(["journey", "key"]).aggregate(weight=credited.weight.sum()).order_by(["journey", "key"])


def journey_keys(touches: ir.Table) -> ir.Table:
    """journey, key, revenue: the distinct keys each converting journey touched."""
    won = touches.filter(touches.converted)
    return won.select("journey", "key", "revenue").distinct().order_by(["journey", "key"])


def _weights(t: ir.Table, model: str, half_life_days: float) -> ir.FloatingValue:
    first, last = t.pos == 0, t.pos == t.n - 1
    one = ibis.literal(1.0)
    zero = ibis.literal(0.0)
    if model == "first_touch":
        return ibis.ifelse(first, one, zero)
    if model == "last_touch":
        return ibis.ifelse(last, one, zero)
    if model == "linear":
        return one
    if model == "time_decay":
        days = (t.conv_ts - t.ts).cast("float64") / MICROS_PER_DAY
        return (days * (-math.log(2) / half_life_days)).exp()
    if model == "position_based":
        u = registry.POSITION_BASED
        middle = ibis.literal(u.middle) / (t.n - 2).cast("float64")
        edge = ibis.cases((t.n == 1, one), (t.n == 2, ibis.literal(0.5)), else_=ibis.literal(u.edge))
        return ibis.ifelse(first | last, edge, middle)
    return _milestone_weights(t, model)


def _milestones(t: ir.Table) -> ir.Table:
    """The places of the lead- and opportunity-creation touches: the last touch at or before each."""
    whole = ibis.window(group_by=t.journey)
    return t.mutate(
        lc_pos=ibis.ifelse(t.ts <= t.lc_ts, t.pos, -1).max().over(whole),
        oc_pos=ibis.ifelse(t.ts <= t.oc_ts, t.pos, -1).max().over(whole),
    )


def _milestone_weights(t: ir.Table, model: str) -> ir.FloatingValue:
    whole = ibis.window(group_by=t.journey)
    flags = [t.pos == 0, t.pos == t.lc_pos, t.pos == t.oc_pos]
    weights = registry.get(model).weights
    assert isinstance(weights, registry.MilestoneWeights)
    if weights.closing:
        flags.append((t.pos == t.n - 1) & t.closes)
    share, rest = weights.share, weights.rest
    milestones = sum((flag.cast("int64") for flag in flags[1:]), flags[0].cast("int64"))
    plain = (milestones == 0).cast("int64")
    others = plain.sum().over(whole)
    rest_weight = ibis.ifelse(others > 0, ibis.literal(rest) / others.cast("float64"), ibis.literal(0.0))
    return milestones.cast("float64") * share + plain.cast("float64") * rest_weight


def coalitions(touches: ir.Table, *, periods: bool = False) -> ir.Table:
    """mask, journeys, conversions, revenue: journeys grouped by the set of keys they touched.

    mask has bit k set when the journey touched key k (keys 0 … 61). Summing each key's bit
    once per journey is the same as OR-ing them, and every engine can sum.
    """
    carried = ["period"] if periods else []
    seen = touches.select("journey", "key", "converted", "revenue", *carried).distinct()
    bit = (ibis.literal(2, "int64") ** seen.key).cast("int64")
    per_journey = (
        seen.mutate(bit=bit)
        .group_by(["journey", *carried])
        .aggregate(mask=ibis._.bit.sum(), converted=ibis._.converted.any(), revenue=ibis._.revenue.max())
    )
    won = per_journey.converted.cast("int64")
    return (
        per_journey.group_by([*carried, "mask"])
        .aggregate(
            journeys=per_journey.count(),
            conversions=won.sum(),
            revenue=ibis.ifelse(per_journey.converted, per_journey.revenue, 0.0).sum(),
        )
        .order_by([*carried, "mask"])
    )


def transitions(touches: ir.Table, order: int, n_keys: int, *, periods: bool = False) -> ir.Table:
    """src, dst, count, value: the Markov chain's observed transitions.

    Consecutive repeats of a key are collapsed first (a, a, b walks a → b). A state is the
    last `order` keys of the collapsed walk, coded Σ (key_i + 1)·(n_keys + 1)^i over the
    state's keys, most recent first (0 where the walk is shorter than `order`). src is −1
    for START; dst is −2 for CONVERSION and −3 for NULL; value is the revenue of the
    conversions on that row.
    """
    step = ibis.window(group_by=touches.journey, order_by=[touches.ts, touches.key])
    marked = touches.mutate(prev=touches.key.lag().over(step))
    fresh = marked.filter(marked.prev.isnull() | (marked.prev != marked.key)).drop("prev")
    walk = ibis.window(group_by=fresh.journey, order_by=[fresh.ts, fresh.key])
    base = n_keys + 1
    state = fresh.key + 1
    for back in range(1, order):
        state = state + (fresh.key.lag(back).over(walk) + 1).fill_null(0) * base**back
    states = fresh.mutate(state=state.cast("int64"))
    walked = ibis.window(group_by=states.journey, order_by=[states.ts, states.key])
    steps = states.mutate(src=states.state.lag().over(walked).fill_null(-1), after=states.state.lead().over(walked))
    carried = ["period"] if periods else []
    moves = steps.group_by([*carried, steps.src.name("src"), steps.state.name("dst")]).aggregate(
        count=steps.count(), value=ibis.literal(0.0)
    )
    ends = steps.filter(steps.after.isnull())
    endings = ends.group_by(
        [*carried, ends.state.name("src"), ibis.ifelse(ends.converted, -2, -3).cast("int64").name("dst")]
    ).aggregate(count=ends.count(), value=ibis.ifelse(ends.converted, ends.revenue, 0.0).sum())
    return moves.union(endings).order_by([*carried, "src", "dst"])


def journey_totals(touches: ir.Table, *, periods: bool = False) -> ir.Table:
    """journeys, conversions and revenue over all journeys (a row, or a row per period)."""
    carried = ["period"] if periods else []
    per = touches.group_by(["journey", *carried]).aggregate(
        converted=ibis._.converted.any(), revenue=ibis._.revenue.max()
    )
    won = per.converted.cast("int64")
    if periods:
        return per.group_by("period").aggregate(
            journeys=per.count(),
            conversions=won.sum(),
            revenue=ibis.ifelse(per.converted, per.revenue, 0.0).sum(),
        )
    return per.aggregate(
        journeys=per.count(),
        conversions=won.sum(),
        revenue=ibis.ifelse(per.converted, per.revenue, 0.0).sum(),
    )
