"""Scores in the store: explain one lead's, recompute some as touchpoints arrive, or all at once.

Every path scores with the same `domain.scoring.Scorer`, and every inquiry whose score reaches
the threshold goes through `lifecycle.move_contact`, so a crossing found by an import and one
found by `truce score refresh` land in the ledger and the handoff queue the same way.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from truce.config import TruceConfig
from truce.domain.scoring import LeadFacts, Score, ScoreItem, Scorer, Touch
from truce.services import lifecycle
from truce.services.connectors import writeback
from truce.store.models import Account, Contact, Touchpoint
from truce.store.work import make_way, unit_of_work

# Contacts are read a page at a time, so memory stays flat however big the store is.
PAGE = 20_000
# Ids per IN (...) list; SQLite builds before 3.32 allow 999 parameters.
ID_CHUNK = 900
STREAM_ROWS = 10_000

_FACTS = (
    select(
        Contact.id,
        Contact.email,
        Contact.stage,
        Contact.score,
        Contact.scored_at,
        Contact.title,
        Contact.source_channel,
        Account.segment,
        Account.industry,
        Account.region,
        Account.employees,
    )
    .select_from(Contact)
    .outerjoin(Account, Account.id == Contact.account_id)
)
_TOUCHES = select(Touchpoint.contact_id, Touchpoint.touch_type, Touchpoint.occurred_at).order_by(
    Touchpoint.contact_id, Touchpoint.occurred_at
)
_WRITE = (
    update(Contact)
    .where(Contact.id == bindparam("contact_id"))
    .values(score=bindparam("new_score"), scored_at=bindparam("new_scored_at"))
)


def _facts(row) -> LeadFacts:
    return LeadFacts(row.segment, row.industry, row.region, row.employees, row.title, row.source_channel)


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("scoring needs an aware time; a naive one has no zone")
    return now


@dataclass
class _Tally:
    scored: int = 0
    changed: int = 0
    crossed: int = 0
    moved: list[int] = field(default_factory=list)

    def add(self, other: _Tally) -> None:
        self.scored += other.scored
        self.changed += other.changed
        self.crossed += other.crossed
        self.moved += other.moved


def _apply(conn: Connection, config: TruceConfig, scorer: Scorer, rows, touches, now, tally: _Tally) -> list:
    """Score one batch of contacts and write the scores; the (id, points) of inquiries that reached the line."""
    threshold, inquiry = config.scoring.threshold, config.funnel.stages[0].key
    writes, candidates = [], []
    for row in rows:
        points = scorer.points(_facts(row), touches.get(row.id, ()), now)
        if points != row.score:  # an unchanged score is not written: a refresh that changes nothing writes nothing
            writes.append({"contact_id": row.id, "new_score": points, "new_scored_at": now})
        tally.changed += points != row.score
        tally.crossed += points >= threshold and (row.score is None or row.score < threshold)
        if points >= threshold and row.stage == inquiry:
            candidates.append((row.id, points))
    if writes:
        conn.execute(_WRITE, writes)
        writeback.owe_scores(conn, config, writes)
    tally.scored += len(rows)
    return candidates


def _promote(conn: Connection, config: TruceConfig, candidates: list[tuple[int, int]], now, tally: _Tally) -> None:
    if not candidates:
        return
    inquiry, threshold = config.funnel.stages[0].key, config.scoring.threshold
    # Re-read the stage: our score update holds the row now, but another writer may have moved
    # the lead after we read it, and moving an MQL to MQL again would be refused.
    still: set[int] = set()
    for chunk in _chunks([cid for cid, _ in candidates], ID_CHUNK):
        still.update(conn.scalars(select(Contact.id).where(Contact.id.in_(chunk), Contact.stage == inquiry)))
    moves = [(cid, f"score {points} reached threshold {threshold}") for cid, points in candidates if cid in still]
    lifecycle.move_contacts(
        conn, config, moves, config.funnel.handoff_stage, at=now, actor_id=None, reason="score", origin="rule"
    )
    tally.moved.extend(cid for cid, _ in moves)


def _chunks(ids: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def rescore(conn: Connection, config: TruceConfig, contact_ids: Iterable[int], now: dt.datetime) -> list[int]:
    """Recompute some contacts' scores inside the caller's transaction; the ids of inquiries that became MQLs.

    This is what an import calls for the contacts whose touchpoints it just wrote.
    """
    now = _now(now)
    scorer, tally = Scorer(config.scoring), _Tally()
    # Sorted, so two writers lock contacts in the same order and cannot deadlock on each other.
    ids = sorted(set(contact_ids))
    candidates = []
    for chunk in _chunks(ids, ID_CHUNK):
        rows = conn.execute(_FACTS.where(Contact.id.in_(chunk)).order_by(Contact.id)).all()
        touches = defaultdict(list)
        for contact_id, touch_type, occurred_at in conn.execute(_TOUCHES.where(Touchpoint.contact_id.in_(chunk))):
            touches[contact_id].append(Touch(touch_type, occurred_at))
        candidates += _apply(conn, config, scorer, rows, touches, now, tally)
    # After every chunk is scored, in id order: one pass over the new MQLs, whose routing reads the whole queue.
    _promote(conn, config, candidates, now, tally)
    return tally.moved


def refresh(
    engine: Engine,
    config: TruceConfig,
    now: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    actor: str = "cli",
) -> dict:
    """Recompute every contact's score, one page of contacts per unit of work; `progress(done, total)`
    after each page.

    Only scores that changed are written (`scored_at` is when the score last changed). Each page
    that changed something is audited as one entry in `actor`'s name with its counts (each move to
    MQL has its own entry, as every move does). Between pages, writers waiting for the store go
    first: at a million contacts a refresh takes minutes, and nobody's click waits for all of it.
    """
    now, scorer, tally = _now(now), Scorer(config.scoring), _Tally()
    with engine.connect() as reading:
        total = reading.execute(select(func.count()).select_from(Contact)).scalar_one() if progress else 0
        # One pass over the touchpoints, merged with the contact pages by contact id.
        stream = iter(reading.execute(_TOUCHES, execution_options={"yield_per": STREAM_ROWS}))
        pending = next(stream, None)
        for rows in _pages(reading):
            last_id, touches = rows[-1].id, defaultdict(list)
            while pending is not None and pending.contact_id <= last_id:
                touches[pending.contact_id].append(Touch(pending.touch_type, pending.occurred_at))
                pending = next(stream, None)
            page = _Tally()
            with unit_of_work(engine, actor, "cli") as work:
                _promote(work.conn, config, _apply(work.conn, config, scorer, rows, touches, now, page), now, page)
                if page.changed or page.moved:
                    work.record("score_refresh", "contacts", None, None, _counts(now, config, page), at=now)
            tally.add(page)
            make_way(engine)
            if progress:
                progress(tally.scored, total)
    return _counts(now, config, tally)


def _counts(now: dt.datetime, config: TruceConfig, tally: _Tally) -> dict:
    return {
        "at": now.isoformat(),
        "threshold": config.scoring.threshold,
        "scored": tally.scored,
        "changed": tally.changed,
        "crossed": tally.crossed,
        "moved_to_mql": len(tally.moved),
    }


def _pages(conn: Connection):
    last_id = None
    while True:
        query = _FACTS.order_by(Contact.id).limit(PAGE)
        if last_id is not None:
            query = query.where(Contact.id > last_id)
        rows = conn.execute(query).all()
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


def explain(engine: Engine, config: TruceConfig, email: str, now: dt.datetime | None = None) -> dict:
    """Every point behind one contact's score at `now`, computed afresh; nothing is written."""
    now = _now(now)
    with engine.connect() as conn:
        row = conn.execute(_FACTS.where(Contact.email == email.strip().lower())).one_or_none()
        if row is None:
            raise lifecycle.NotFound(f"no contact with email {email.strip()!r}")
        touches = [
            Touch(t.touch_type, t.occurred_at) for t in conn.execute(_TOUCHES.where(Touchpoint.contact_id == row.id))
        ]
    result = Scorer(config.scoring).score(_facts(row), touches, now)
    return _explained(row, result, config, now)


def _explained(row, result: Score, config: TruceConfig, now: dt.datetime) -> dict:
    threshold = config.scoring.threshold
    return {
        "email": row.email,
        "contact_id": row.id,
        "stage": row.stage,
        "at": now.isoformat(),
        "score": result.points,
        "exact": result.exact,
        "threshold": threshold,
        "would_be_mql": result.crossed(threshold),
        "fit_points": sum(i.points for i in result.items if i.kind == "fit"),
        "engagement_points": sum(i.points for i in result.items if i.kind == "engagement"),
        "stored_score": row.score,
        "scored_at": row.scored_at.isoformat() if row.scored_at else None,
        "half_life_days": config.scoring.half_life_days,
        "items": [_item(i) for i in result.items],
    }


def _item(item: ScoreItem) -> dict:
    return {
        "kind": item.kind,
        "rule": item.rule,
        "status": item.status,
        "value": item.value,
        "occurred_at": item.occurred_at.isoformat() if item.occurred_at else None,
        "age_days": item.age_days,
        "raw_points": item.raw_points,
        "decay": item.decay,
        "points": item.points,
        "sentence": item.sentence,
    }


def explain_contact(engine: Engine, config: TruceConfig, contact_id: int, now: dt.datetime | None = None) -> dict:
    """`explain` for a lead named by its id: the page a CRM's score link opens (truce.services.connectors.writeback)."""
    with engine.connect() as conn:
        email = conn.execute(select(Contact.email).where(Contact.id == contact_id)).scalar_one_or_none()
    if email is None:
        raise lifecycle.NotFound(f"no contact with id {contact_id}")
    return explain(engine, config, email, now)
