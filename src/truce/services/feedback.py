"""Sales-force feedback at near-zero cost: one line in, themes out, and marketing's answer back.

A seller records what they heard in one line of text with a kind (product gap, competitor,
pricing, lead quality, messaging, content request, other), linked if they like to a contact,
a deal or a campaign. Marketing (or RevOps) answers with a status and a reply, so the seller
sees what came of it. docs/feedback.md states every rule; in short:

- **Adding**: the text is required (at most 2,000 characters), the kind one of FEEDBACK_KINDS,
  the author an active user of any team; a named contact (email), deal (id) or campaign (id)
  must exist. The item starts as `new`.
- **Answering**: only an active marketing or RevOps user answers. The status only moves
  forward: new → acknowledged → acted_on, or new → acted_on in one step; never back, never to
  the status it already has. Acting on an item needs a reply (acknowledging may go without).
  The move is a conditional update on the status read, so two people answering at once
  cannot both win.
- Every write is one transaction with an audit entry; a refused write writes nothing.

**Themes** (`feedback_themes`) over the items created in [start, end] (UTC days, both
included; either end open when None):

- `counts`: items per kind, every kind listed (zero included).
- `competitors`: the *known* competitors are the distinct competitor values on opportunities.
  An item mentions a competitor when its linked deal names it, or when the name appears in
  its text as a whole word or phrase, case ignored; an item counts once per competitor.
  `products` works the same way with the opportunities' product values. Where one known
  name contains another ("Flowline" and "Flowline Core"), the longer match wins.
- `terms`: words and two-word phrases from the texts, lower-cased, after removing the known
  competitor and product names, the stopwords below, words under 3 letters and numbers.
  A phrase is two such words side by side (no stopword, punctuation or name between them).
  `mentions` = items using the term (once per item). Phrases need at least 2 mentions; a
  word is left out when a listed phrase containing it has as many mentions (it adds nothing).
  The top TERMS_SHOWN by mentions, phrases before words on a tie, then alphabetical.
- `trend`: items per month ("YYYY-MM", UTC) and kind, months with items only.
- `answered_share`: items no longer `new` ÷ items (None without items); `open`: items still new.
- `items`: the RECENT_ITEMS newest items with their status and reply.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, insert, select, true, update

from truce.services.lifecycle import NotFound, contact_by_email, user_by_email
from truce.store.models import (
    FEEDBACK_KINDS,
    FEEDBACK_STATUSES,
    Campaign,
    Contact,
    FeedbackItem,
    Opportunity,
    User,
)
from truce.store.work import record, unit_of_work

MAX_TEXT = 2000
ANSWERING_TEAMS = ("marketing", "revops")
# Where each status may go next: forward only, acknowledging may be skipped.
NEXT_STATUSES = {"new": ("acknowledged", "acted_on"), "acknowledged": ("acted_on",), "acted_on": ()}
TERMS_SHOWN = 20
RECENT_ITEMS = 10
# Our own short list: English function words, the filler of a one-line note, number words and
# company legal forms. A word here never counts as a term and breaks a two-word phrase.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can cannot could did do does doing done down during each
    few for from further get gets got had has have having he her here hers him his how i if in
    into is it its itself just let me more most my no nor not now of off on once one only or
    other our ours out over own same she should so some still such than that the their them
    then there these they this those through to too under until up very via was we were what
    when where which while who whom why will with would you your yours
    asked asks ask said says told tell tells keep keeps want wants wanted like please thanks
    thank really much many lot lots week weeks month months today yesterday
    two three four five six seven eight nine ten
    inc ltd llc corp gmbh plc pty pte
    """.split()
)


class FeedbackRefused(ValueError):
    """A feedback write the rules do not allow; the message says which rule."""


@dataclass(frozen=True)
class Period:
    start: dt.date | None
    end: dt.date | None

    def __post_init__(self) -> None:
        for name, day in (("start", self.start), ("end", self.end)):
            if day is not None and (not isinstance(day, dt.date) or isinstance(day, dt.datetime)):
                raise FeedbackRefused(f"{name} must be a date, not {day!r}")
        if self.start and self.end and self.start > self.end:
            raise FeedbackRefused(f"the period starts on {self.start} after it ends on {self.end}")

    def where(self, column):
        """Rows whose timestamp falls on a day of the period (UTC)."""
        conditions = []
        if self.start:
            conditions.append(column >= dt.datetime.combine(self.start, dt.time(), dt.UTC))
        if self.end:
            conditions.append(column < dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), dt.UTC))
        return and_(true(), *conditions)

    def as_dict(self) -> dict:
        return {"from": self.start, "to": self.end}


# ---- writes --------------------------------------------------------------------------------------


def _audit(conn: Connection, actor: str, action: str, item_id: int, before, after, now) -> None:
    record(conn, action, "feedback_item", item_id, before, after, actor=actor, at=now)


def _clean_text(text: str | None, what: str) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise FeedbackRefused(f"{what} is empty; say in one line what you heard")
    if len(cleaned) > MAX_TEXT:
        raise FeedbackRefused(f"{what} has {len(cleaned):,} characters; at most {MAX_TEXT:,}")
    return cleaned


def _active_user(conn: Connection, email: str | None, role: str):
    if not email or not email.strip():
        raise FeedbackRefused(f"say who {role}: --as EMAIL or TRUCE_USER")
    user = user_by_email(conn, email)
    if not user["active"]:
        raise FeedbackRefused(f"{user['email']} is not an active user")
    return user


def _exists(conn: Connection, table, ident: int | None, what: str) -> int | None:
    if ident is None:
        return None
    if conn.execute(select(table.id).where(table.id == ident)).scalar_one_or_none() is None:
        raise NotFound(f"no {what} with id {ident}")
    return ident


def add_feedback(
    engine: Engine,
    *,
    text: str,
    kind: str,
    author_email: str | None,
    contact_email: str | None = None,
    deal_id: int | None = None,
    campaign_id: int | None = None,
    at: dt.datetime | None = None,
    origin: str = "cli",
) -> dict:
    """Record one line of feedback; returns the new item as `list_feedback` shows it."""
    cleaned = _clean_text(text, "the feedback text")
    if kind not in FEEDBACK_KINDS:
        raise FeedbackRefused(f"unknown kind {kind!r}; choose one of: {', '.join(FEEDBACK_KINDS)}")
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(engine, author_email or "unknown", origin) as work:
        conn = work.conn
        author = _active_user(conn, author_email, "says it")
        row = {
            "kind": kind,
            "text": cleaned,
            "author_id": author["id"],
            "contact_id": contact_by_email(conn, contact_email)["id"] if contact_email else None,
            "opportunity_id": _exists(conn, Opportunity, deal_id, "deal"),
            "campaign_id": _exists(conn, Campaign, campaign_id, "campaign"),
            "status": "new",
            "created_at": at or now,
        }
        item_id = conn.execute(insert(FeedbackItem).returning(FeedbackItem.id), row).scalar_one()
        after = {k: row[k] for k in ("kind", "text", "contact_id", "opportunity_id", "campaign_id", "status")}
        _audit(conn, author["email"], "feedback_add", item_id, None, after, now)
        return _items(conn, FeedbackItem.id == item_id)[0]


def answer_feedback(
    engine: Engine, item_id: int, *, status: str, reply: str | None, by_email: str | None, origin: str = "cli"
) -> dict:
    """Marketing's answer: move the item forward and say what came of it."""
    if status not in FEEDBACK_STATUSES or status == "new":
        raise FeedbackRefused(f"an answer sets the status to acknowledged or acted_on, not {status!r}")
    reply = reply.strip() if reply and reply.strip() else None
    if status == "acted_on" and reply is None:
        raise FeedbackRefused("acting on feedback needs a reply: say what was done (--reply)")
    if reply is not None:
        reply = _clean_text(reply, "the reply")
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(engine, by_email or "unknown", origin) as work:
        conn = work.conn
        user = _active_user(conn, by_email, "answers")
        if user["team"] not in ANSWERING_TEAMS:
            raise FeedbackRefused(
                f"only marketing or RevOps users answer feedback; {user['email']} is on the {user['team']} team"
            )
        item = conn.execute(
            select(FeedbackItem.status, FeedbackItem.reply).where(FeedbackItem.id == item_id)
        ).one_or_none()
        if item is None:
            raise NotFound(f"no feedback item with id {item_id}")
        _check_move(item_id, item.status, status)
        new_reply = reply if reply is not None else item.reply
        moved = conn.execute(
            update(FeedbackItem)
            # Only from the status we read: a second answer racing this one finds no row to move.
            .where(FeedbackItem.id == item_id, FeedbackItem.status == item.status)
            .values(status=status, reply=new_reply, replied_by_id=user["id"], replied_at=now)
        ).rowcount
        if moved != 1:
            raise FeedbackRefused(f"feedback item {item_id} was answered by someone else just now; look again")
        before = {"status": item.status, "reply": item.reply}
        _audit(conn, user["email"], "feedback_answer", item_id, before, {"status": status, "reply": new_reply}, now)
        return _items(conn, FeedbackItem.id == item_id)[0]


def _check_move(item_id: int, current: str, wanted: str) -> None:
    if wanted in NEXT_STATUSES[current]:
        return
    if current == wanted:
        raise FeedbackRefused(f"feedback item {item_id} is already {current}")
    allowed = NEXT_STATUSES[current]
    then = f"it can only move to {' or '.join(allowed)}" if allowed else "it is closed"
    raise FeedbackRefused(f"feedback item {item_id} is {current}; a status never moves back, and {then}")


# ---- reads ---------------------------------------------------------------------------------------


def _items(conn: Connection, *where, limit: int | None = None) -> list[dict]:
    author = User.__table__.alias("author")
    replier = User.__table__.alias("replier")
    query = (
        select(
            FeedbackItem,
            author.c.email.label("author"),
            author.c.team.label("author_team"),
            replier.c.email.label("replied_by"),
            Contact.email.label("contact"),
            Campaign.name.label("campaign"),
            Opportunity.name.label("deal"),
        )
        .outerjoin(author, author.c.id == FeedbackItem.author_id)
        .outerjoin(replier, replier.c.id == FeedbackItem.replied_by_id)
        .outerjoin(Contact, Contact.id == FeedbackItem.contact_id)
        .outerjoin(Campaign, Campaign.id == FeedbackItem.campaign_id)
        .outerjoin(Opportunity, Opportunity.id == FeedbackItem.opportunity_id)
        .where(*where)
        .order_by(FeedbackItem.created_at.desc(), FeedbackItem.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": r["id"],
            "created_at": r["created_at"],
            "kind": r["kind"],
            "status": r["status"],
            "text": r["text"],
            "author": r["author"],
            "contact": r["contact"],
            "deal_id": r["opportunity_id"],
            "deal": r["deal"],
            "campaign_id": r["campaign_id"],
            "campaign": r["campaign"],
            "reply": r["reply"],
            "replied_by": r["replied_by"],
            "replied_at": r["replied_at"],
        }
        for r in conn.execute(query).mappings()
    ]


def list_feedback(
    engine: Engine,
    *,
    status: str | None = None,
    kind: str | None = None,
    author: str | None = None,
    limit: int = 50,
) -> list[dict]:
    """Feedback items, newest first, with marketing's status and reply; filters combine."""
    if status is not None and status not in FEEDBACK_STATUSES:
        raise FeedbackRefused(f"unknown status {status!r}; choose one of: {', '.join(FEEDBACK_STATUSES)}")
    if kind is not None and kind not in FEEDBACK_KINDS:
        raise FeedbackRefused(f"unknown kind {kind!r}; choose one of: {', '.join(FEEDBACK_KINDS)}")
    if limit < 1:
        raise FeedbackRefused(f"the limit must be at least 1, not {limit}")
    where = []
    with engine.connect() as conn:
        if status:
            where.append(FeedbackItem.status == status)
        if kind:
            where.append(FeedbackItem.kind == kind)
        if author:
            where.append(FeedbackItem.author_id == user_by_email(conn, author)["id"])
        return _items(conn, *where, limit=limit)


# ---- themes --------------------------------------------------------------------------------------


def _known(conn: Connection, column) -> list[str]:
    values = conn.execute(select(column).where(column.is_not(None)).distinct()).scalars()
    return sorted({v.strip() for v in values if v and v.strip()})


def _pattern(names: list[str]) -> re.Pattern | None:
    """One regex for all names, longest first, so the longer of two overlapping names wins."""
    if not names:
        return None
    ordered = sorted(names, key=lambda n: (-len(n), n))
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in ordered) + r")(?!\w)", re.IGNORECASE)


def _found(pattern: re.Pattern | None, names: list[str], text: str) -> set[str]:
    if pattern is None:
        return set()
    canonical = {n.casefold(): n for n in names}
    return {canonical.get(m.group(1).casefold(), m.group(1)) for m in pattern.finditer(text)}


def _ranked(counter: Counter, label: str) -> list[dict]:
    return [{label: k, "mentions": n} for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


_CHUNKS = re.compile(r"[.,;:!?()\[\]{}\"“”‘’/…–—]+|\s['’]|['’]\s|\s-\s")
_TOKEN = re.compile(r"[0-9a-z]+(?:[-'’][0-9a-z]+)*")


def words_and_phrases(text: str, names: re.Pattern | None = None) -> set[str]:
    """The terms of one text: meaningful words and two-word phrases (see the module docstring)."""
    lowered = text.casefold()
    if names is not None:
        lowered = names.sub(" . ", lowered)  # a name is reported elsewhere, and breaks a phrase
    terms: set[str] = set()
    for chunk in _CHUNKS.split(lowered):
        previous = None
        for token in _TOKEN.findall(chunk):
            token = re.sub(r"['’]s$", "", token)
            if token in STOPWORDS or len(token) < 3 or not re.search(r"[a-z]", token):
                previous = None
                continue
            terms.add(token)
            if previous is not None:
                terms.add(f"{previous} {token}")
            previous = token
    return terms


def top_terms(texts: list[str], names: re.Pattern | None = None, shown: int = TERMS_SHOWN) -> list[dict]:
    counts: Counter = Counter()
    for text in texts:
        counts.update(words_and_phrases(text, names))
    phrases = {t: n for t, n in counts.items() if " " in t and n >= 2}
    covered = {word for phrase, n in phrases.items() for word in phrase.split() if counts[word] == n}
    words = {t: n for t, n in counts.items() if " " not in t and t not in covered}
    ranked = sorted({**words, **phrases}.items(), key=lambda kv: (-kv[1], -kv[0].count(" "), kv[0]))
    return [{"term": t, "mentions": n} for t, n in ranked[:shown]]


def feedback_themes(engine: Engine, config=None, *, start: dt.date | None = None, end: dt.date | None = None) -> dict:
    """What the sales floor said in the period: kinds, competitors, products, terms, trend, answers.

    `config` is not needed yet; it is taken so every report is called the same way.
    """
    period = Period(start, end)
    with engine.connect() as conn:
        competitors, products = _known(conn, Opportunity.competitor), _known(conn, Opportunity.product)
        rows = conn.execute(
            select(
                FeedbackItem.kind,
                FeedbackItem.text,
                FeedbackItem.status,
                FeedbackItem.created_at,
                Opportunity.competitor,
                Opportunity.product,
            )
            .outerjoin(Opportunity, Opportunity.id == FeedbackItem.opportunity_id)
            .where(period.where(FeedbackItem.created_at))
        ).all()
        recent = _items(conn, period.where(FeedbackItem.created_at), limit=RECENT_ITEMS)
    competitor_names, product_names = _pattern(competitors), _pattern(products)
    by_competitor: Counter[str] = Counter()
    by_product: Counter[str] = Counter()
    trend: Counter[tuple[str, str]] = Counter()
    for row in rows:
        by_competitor.update(_found(competitor_names, competitors, row.text) | _linked(row.competitor))
        by_product.update(_found(product_names, products, row.text) | _linked(row.product))
        trend[_month(row.created_at), row.kind] += 1
    answered = sum(1 for r in rows if r.status != "new")
    return {
        "period": period.as_dict(),
        "items_in_period": len(rows),
        "counts": {kind: sum(1 for r in rows if r.kind == kind) for kind in FEEDBACK_KINDS},
        "competitors": _ranked(by_competitor, "name"),
        "products": _ranked(by_product, "name"),
        "terms": top_terms([r.text for r in rows], _pattern(competitors + products)),
        "trend": [{"month": m, "kind": k, "n": n} for (m, k), n in sorted(trend.items())],
        "answered_share": answered / len(rows) if rows else None,
        "open": len(rows) - answered,
        "items": recent,
    }


def _linked(name: str | None) -> set[str]:
    return {name.strip()} if name and name.strip() else set()


def _month(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m")
