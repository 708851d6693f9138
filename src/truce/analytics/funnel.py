"""Funnel metrics as Ibis expressions: volume, conversion, skips, velocity and leakage.

The rules, exactly (the tests recount every number by them in plain Python):

Ledgers
    The contact ledger is every move of a contact (stage_changes rows with entity_type
    'contact') into a stage truce.toml names. An entity's moves are ordered by
    (changed_at, id); "the next move" and "the previous move" follow that order. Times
    count to the whole second; months are UTC calendar months, the same on SQLite (which
    has no time zones), PostgreSQL and DuckDB.
    The account ledger has one move per account and stage: the first move into that
    stage by any of the account's contacts (earliest changed_at, then lowest id), because
    an account reaches a stage when its first contact does. Its from_stage is the stage
    of the account's previous move in the account ledger (none for its first), its team
    and reason are those of the contact's move; contacts without an account are left
    out. Every metric runs on either ledger by the same rules; "entity" means the
    contact or the account.

Slices (`by`)
    channel  contacts.source_channel; for an account, that of the contact whose move is
             the account's first.
    segment  accounts.segment of the entity's account.
    team     the team that held the entity in the stage the number is about: for an
             entry into a stage (volume, snapshot, cohort, velocity) the team_after of
             the entering move; for a move out of a stage (skips, leakage, the numerator
             of the period view) the team_after of the previous move, the one that
             entered the stage being left.
    month    the month of the move counted.
    A missing value is its own slice (null).

Period
    [start, end) in seconds. A move belongs to the period when its changed_at does. The
    period picks the moves that are counted; what happened to them later (a conversion
    inside the window, the move that ends a spell) is looked up in the whole ledger.

Volume
    An entry is a move into a stage. Entries count once per entity, stage and month: the
    first that month. A contact recycled and back in mql within one month enters mql once
    that month; entering again in a later month counts again. `entered` is per stage and
    month. The snapshot counts entities by their stage after their last move before the
    period's end (or ever). An account's snapshot stage is the most advanced stage any
    of its contacts is in (waterfall order); only when none is in a waterfall stage is it
    the exit of the contact that moved last.

Cohort conversion A→B (consecutive waterfall stages)
    The cohort of A in month M is the entries into A in M (once per entity and month, as
    above, at the time of the first). A member converted when the same entity moves into
    B at or after that time and no more than `window_days` after it (a move into B in the
    same second counts, whatever its place in the ledger). Only a move into B counts: a
    skip past B is a skip, not a conversion. `window_open` counts members whose window
    ends after the last move in the whole contact ledger (`as_of`): they may still convert.

Period conversion A→B
    Per month: entities entering B that month over entities entering A that month,
    both counted as volume.

Skips
    Moves from a waterfall stage to one further down than the next (inquiry→sql skips
    mql and sal), per move and per skipped stage (one count for every move that jumped
    over it). Entries into the ledger and moves to or from exits skip nothing.

Velocity
    A spell starts at every move into a stage (not once a month) and ends at the
    entity's next move; its length is the time between, in seconds. Spells without a
    next move are open: excluded from the percentiles and counted as `open`. Percentiles
    interpolate linearly between closest ranks (numpy's default, PostgreSQL's
    percentile_cont): with sorted lengths v[0..n-1] and h = p·(n−1), the value is
    v[⌊h⌋] + (h − ⌊h⌋)·(v[⌊h⌋+1] − v[⌊h⌋]).

Leakage
    Moves from a waterfall stage into an exit, per from-stage, exit and reason; a move
    without a reason counts under reason null.

How it runs: stages become small integer codes on the way in (their place in
`Waterfall.keys`: waterfall stages first, then exits), because sorting, grouping and
joining millions of moves is several times faster on integers than on text; results carry
the codes and `Waterfall.keys` names them. Every function returns an unexecuted Ibis
expression. The expensive steps are `follow` (one window pass over each entity's moves in
order) and `first_entries` (one aggregate); callers materialise both (`.cache()`) and run
every metric on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from truce.config import Funnel
from truce.domain.lifecycle import skipped_stages

LEVELS = ("contact", "account")
SLICES = ("channel", "segment", "team", "month")
DAY_SECONDS = 86_400
# Percentiles as exact fractions, so ranks compare in integers on every engine.
MEDIAN, P75 = (1, 2), (3, 4)


@dataclass(frozen=True)
class Waterfall:
    """The funnel's shape as the metrics need it: ordered stages, exits, and what each move skips."""

    stages: tuple[str, ...]
    exits: tuple[str, ...]
    skips: tuple[tuple[str, str, tuple[str, ...]], ...]

    @classmethod
    def from_funnel(cls, funnel: Funnel) -> Waterfall:
        stages = tuple(s.key for s in funnel.stages)
        skips = tuple((a, b, skipped_stages(funnel, a, b)) for i, a in enumerate(stages) for b in stages[i + 2 :])
        return cls(stages, tuple(s.key for s in funnel.exits), skips)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every stage by its code: waterfall stages 0 … n−1 in order, then the exits."""
        return self.stages + self.exits

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple(zip(self.stages, self.stages[1:], strict=False))

    def code(self, stage: ir.StringValue) -> ir.IntegerValue:
        return ibis.cases(*((stage == key, i) for i, key in enumerate(self.keys))).cast("int8")


@dataclass(frozen=True)
class Period:
    """[start, end) in seconds since 1970 UTC; None leaves that side open."""

    start: int | None = None
    end: int | None = None

    def of(self, m: ir.Table) -> list[ir.BooleanValue]:
        """Predicates: the move (or first entry) happened inside the period."""
        held = []
        if self.start is not None:
            held.append(m.ts >= self.start)
        if self.end is not None:
            held.append(m.ts < self.end)
        return held


# ---- the per-level ledger every metric reads ----------------------------------------------


def carried(level: str, by: str | None) -> frozenset[str]:
    """What the moves must carry besides their stages and times: team, account, channel, segment."""
    needed = {"account"} if level == "account" else set()
    if by in ("team", "channel", "segment"):
        needed.add(by)
    return frozenset(needed)


def contact_ledger(
    ledger: ir.Table, contacts: ir.Table, accounts: ir.Table, waterfall: Waterfall, carry: frozenset[str] = frozenset()
) -> ir.Table:
    """One row per contact move: id, entity, src and dst (stage codes; src null for an entry),
    ts, month, reason, and team, account, channel or segment where `carry` asks for them."""
    moves = ledger.select(
        id=ledger.id,
        entity=ledger.entity_id,
        src=waterfall.code(ledger.from_stage),
        dst=waterfall.code(ledger.to_stage),
        ts=ledger.ts,
        month=ledger.month,
        reason=ledger.reason,
        **({"team": ledger.team_after} if "team" in carry else {}),
    )
    moves = moves.filter(moves.dst.notnull())
    if not carry & {"account", "channel", "segment"}:
        return moves
    people = contacts.select(person=contacts.id, account=contacts.account_id, channel=contacts.source_channel)
    if "segment" in carry:
        firms = accounts.select(firm=accounts.id, segment=accounts.segment)
        people = people.left_join(firms, people.account == firms.firm).drop("firm")
    joined = moves.left_join(people, moves.entity == people.person)
    return joined.select(*moves.columns, *(c for c in ("account", "channel", "segment") if c in carry))


def account_ledger(contact_level: ir.Table) -> ir.Table:
    """The account ledger from contact moves that carry their account: each account's first
    move into each stage, src re-derived, channel that of the account's first contact."""
    c = contact_level.filter(contact_level.account.notnull())
    first_in = ibis.window(group_by=[c.account, c.dst], order_by=[c.ts, c.id])
    c = c.mutate(nth=ibis.row_number().over(first_in))
    c = c.filter(c.nth == 0)
    w = ibis.window(group_by=c.account, order_by=[c.ts, c.id])
    extra = {name: c[name] for name in ("team", "segment") if name in c.columns}
    if "channel" in c.columns:
        extra["channel"] = c.channel.first().over(w)
    return c.select(
        id=c.id,
        entity=c.account,
        src=c.dst.lag().over(w),
        dst=c.dst,
        ts=c.ts,
        month=c.month,
        reason=c.reason,
        account=c.account,
        **extra,
    )


def follow(m: ir.Table, *, held_by: bool = False) -> ir.Table:
    """Add next_ts (the time of the entity's next move) and, if asked, held_by (the team of its
    previous move: the team that held the stage this move leaves), in one window pass."""
    w = ibis.window(group_by=m.entity, order_by=[m.ts, m.id])
    added = {"next_ts": m.ts.lead().over(w)}
    if held_by:
        added["held_by"] = m.team.lag().over(w)
    return m.mutate(**added)


def first_entries(m: ir.Table, by: str | None) -> ir.Table:
    """One row per entity, stage and month, from `follow`ed moves: the first entry that month.

    Columns: entity, stage (code), month, ts (of the first entry)[, slice][, slice_out].
    """
    if by == "team":
        # The team of the first entry is no aggregate of the group: number the entries.
        this_month = ibis.window(group_by=[m.entity, m.dst, m.month], order_by=[m.ts, m.id])
        f = m.mutate(nth=ibis.row_number().over(this_month))
        f = f.filter(f.nth == 0)
        return f.select("entity", "month", "ts", stage=f.dst, slice=f.team, slice_out=f.held_by)
    keys = {"entity": m.entity, "stage": m.dst, "month": m.month}
    if by in ("channel", "segment"):
        keys["slice"] = m[by]  # the same for every move of the entity
    return m.group_by(**keys).aggregate(ts=m.ts.min())


def _slice(m: ir.Table, by: str | None, out: bool = False) -> dict[str, ir.Value]:
    """The slice of a move: entries use the move's own team, moves out the team that held the stage."""
    if by is None:
        return {}
    if by not in SLICES:
        raise ValueError(f"cannot slice by {by!r}; choose one of {', '.join(SLICES)}")
    if by == "team":
        return {"slice": m.held_by if out else m.team}
    return {"slice": m[by]}


def _first_slice(f: ir.Table, by: str | None, out: bool = False) -> dict[str, ir.Value]:
    if by is None:
        return {}
    if by == "month":
        return {"slice": f.month}
    return {"slice": f.slice_out if out and by == "team" else f.slice}


def _where(m: ir.Table, *held: ir.BooleanValue) -> ir.Table:
    return m.filter(*held) if held else m


def _count_by(m: ir.Table, keys: dict[str, ir.Value], **metrics) -> ir.Table:
    keyed = m.mutate(**keys)
    return keyed.group_by(list(keys)).aggregate(**{name: metric(keyed) for name, metric in metrics.items()})


# ---- metrics (stage columns hold codes) -------------------------------------------------------


def as_of(moves: ir.Table) -> ir.Scalar:
    """The time of the last move, in seconds."""
    return moves.ts.max()


def entries(firsts: ir.Table, by: str | None, period: Period, out: bool = False) -> ir.Table:
    """Entries per stage and month (once per entity, stage and month): stage, month[, slice], entered."""
    e = _where(firsts, *period.of(firsts))
    return _count_by(e, {"stage": e.stage, "month": e.month, **_first_slice(e, by, out)}, entered=lambda t: t.count())


def snapshot(m: ir.Table, by: str | None, end: int | None) -> ir.Table:
    """Entities per stage after their last move before `end`: stage[, slice], count."""
    s = m.filter(*_last_before(m, end))
    return _count_by(s, {"stage": s.dst, **_slice(s, by)}, count=lambda t: t.count())


def account_snapshot(
    contact_level: ir.Table, account_level: ir.Table, waterfall: Waterfall, by: str | None, end: int | None
) -> ir.Table:
    """Accounts per stage: the most advanced stage any of their contacts is in at `end`.

    contact_level: `follow`ed contact moves carrying their account (and what `by` needs);
    account_level: the account ledger, whose channel is the account's.
    """
    s = contact_level.filter(contact_level.account.notnull(), *_last_before(contact_level, end))
    s = s.mutate(rank=ibis.ifelse(s.dst < len(waterfall.stages), s.dst, -1))
    best = ibis.window(group_by=s.account, order_by=[s.rank.desc(), s.ts.desc(), s.id.desc()])
    s = s.mutate(nth=ibis.row_number().over(best))
    s = s.filter(s.nth == 0)
    if by == "channel":
        first = account_level.select(firm=account_level.entity, first_channel=account_level.channel).distinct()
        s = s.drop("channel").left_join(first, s.account == first.firm)
        s = s.drop("firm").rename(channel="first_channel")
    return _count_by(s, {"stage": s.dst, **_slice(s, by)}, count=lambda t: t.count())


def _last_before(m: ir.Table, end: int | None) -> list[ir.BooleanValue]:
    if end is None:
        return [m.next_ts.isnull()]
    return [m.ts < end, m.next_ts.isnull() | (m.next_ts >= end)]


def cohorts(
    firsts: ir.Table, waterfall: Waterfall, by: str | None, period: Period, window_days: int, as_of_ts: int
) -> ir.Table:
    """The cohorts of each pair's first stage per month: stage, month[, slice], entered, window_open."""
    c = _members(firsts, waterfall, period)
    return _count_by(
        c,
        {"stage": c.stage, "month": c.month, **_first_slice(c, by)},
        entered=lambda t: t.count(),
        window_open=lambda t: (t.ts + window_days * DAY_SECONDS > as_of_ts).sum(),
    )


def conversions(
    firsts: ir.Table,
    m: ir.Table,
    waterfall: Waterfall,
    by: str | None,
    period: Period,
    window_days: int,
    semi_join: bool = True,
) -> ir.Table:
    """Cohort members that reached the next stage in time: stage, month[, slice], converted.

    `semi_join=False` joins and keeps distinct members instead (for SQLite).
    """
    c = _members(firsts, waterfall, period)
    onward = m.select(onward_entity=m.entity, onward_stage=m.dst, onward_ts=m.ts)
    onward = onward.filter(onward.onward_stage.between(1, len(waterfall.stages) - 1))
    reached_in_time = [
        c.entity == onward.onward_entity,
        onward.onward_stage == c.stage + 1,
        onward.onward_ts >= c.ts,
        onward.onward_ts <= c.ts + window_days * DAY_SECONDS,
    ]
    if semi_join:
        reached = c.semi_join(onward, reached_in_time)
    else:
        reached = c.join(onward, reached_in_time).select(*c.columns).distinct()
    return _count_by(
        reached,
        {"stage": reached.stage, "month": reached.month, **_first_slice(reached, by)},
        converted=lambda t: t.count(),
    )


def _members(firsts: ir.Table, waterfall: Waterfall, period: Period) -> ir.Table:
    return firsts.filter(firsts.stage < len(waterfall.stages) - 1, *period.of(firsts))


def skips(m: ir.Table, waterfall: Waterfall, by: str | None, period: Period) -> ir.Table:
    """Moves that jump over waterfall stages: from_stage, to_stage[, slice], moves."""
    s = m.filter(m.src < len(waterfall.stages), m.dst < len(waterfall.stages), m.dst > m.src + 1, *period.of(m))
    return _count_by(s, {"from_stage": s.src, "to_stage": s.dst, **_slice(s, by, out=True)}, moves=lambda t: t.count())


def leakage(m: ir.Table, waterfall: Waterfall, by: str | None, period: Period) -> ir.Table:
    """Moves from a waterfall stage into an exit: from_stage, to_stage, reason[, slice], moves."""
    s = m.filter(m.src < len(waterfall.stages), m.dst >= len(waterfall.stages), *period.of(m))
    keys = {"from_stage": s.src, "to_stage": s.dst, "reason": s.reason, **_slice(s, by, out=True)}
    return _count_by(s, keys, moves=lambda t: t.count())


def spells(m: ir.Table, by: str | None, period: Period) -> ir.Table:
    """Spells per stage: stage[, slice], closed, open."""
    s = _where(m, *period.of(m))
    return _count_by(
        s,
        {"stage": s.dst, **_slice(s, by)},
        closed=lambda t: t.next_ts.notnull().sum(),
        open=lambda t: t.next_ts.isnull().sum(),
    )


def velocity(m: ir.Table, by: str | None, period: Period, native: bool = True) -> ir.Table:
    """Closed spell lengths in seconds: stage[, slice], median, p75.

    `native` uses the engine's own linear percentile (DuckDB quantile_cont, PostgreSQL
    percentile_cont); otherwise ranks from window functions, for engines without one (SQLite).
    """
    d = m.filter(m.next_ts.notnull(), *period.of(m))
    d = d.mutate(stage=d.dst, seconds=d.next_ts - d.ts, **_slice(d, by))
    keys = ["stage", *(["slice"] if by else [])]
    if native:
        return d.group_by(keys).aggregate(
            median=d.seconds.quantile(MEDIAN[0] / MEDIAN[1]), p75=d.seconds.quantile(P75[0] / P75[1])
        )
    ranked = d.mutate(
        rank=ibis.row_number().over(ibis.window(group_by=keys, order_by=[d.seconds])),
        n=d.count().over(ibis.window(group_by=keys)),
    )
    parts: dict[str, ir.Value] = {}
    for name, fraction in (("median", MEDIAN), ("p75", P75)):
        parts |= _rank_parts(ranked, name, fraction)
    found = ranked.group_by(keys).aggregate(**parts)
    return found.select(
        *keys,
        **{
            name: found[f"{name}_lo"]
            + (found[f"{name}_over"] / den) * (found[f"{name}_hi"].coalesce(found[f"{name}_lo"]) - found[f"{name}_lo"])
            for name, (_, den) in (("median", MEDIAN), ("p75", P75))
        },
    )


def _rank_parts(r: ir.Table, name: str, fraction: tuple[int, int]) -> dict[str, ir.Value]:
    """v[⌊h⌋], v[⌊h⌋+1] and (h − ⌊h⌋)·den for h = num/den·(n−1), compared in integers."""
    num, den = fraction
    target = (r.n - 1) * num  # h · den
    is_lo = (r.rank * den <= target) & (target < (r.rank + 1) * den)
    is_hi = ((r.rank - 1) * den <= target) & (target < r.rank * den)
    return {
        f"{name}_lo": ibis.cases((is_lo, r.seconds)).max(),
        f"{name}_hi": ibis.cases((is_hi, r.seconds)).max(),
        f"{name}_over": ibis.cases((is_lo, target - r.rank * den)).max(),
    }
