"""The shared records, one at a time: list with filters and pages, read, create and update, audited.

The REST API's records face calls these; the rules are the store's and the funnel's:

- A page is at most MAX_LIMIT records in id order. `next` is a cursor for the following
  page: the id to continue after, as text; None on the last page. The audit trail is read
  with the same pages, newest first (truce.services.audit_trail).
- Every create or update is one transaction with an audit entry naming the actor and holding
  the changed fields before and after; an update that changes nothing writes nothing.
- Users are read without their password hash; they are added with logins.add_user.
- A contact's stage moves only through the lifecycle (handoffs, stage-change ingestion):
  creating a contact records its entry into the funnel in the ledger, and opens a handoff
  when it enters at the handoff stage. A deal whose stage changes gets a ledger row too.
- The stage ledger and the audit trail are only ever appended to; nothing here edits them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from sqlalchemy import Connection, Engine, Table, and_, insert, select, true, update
from sqlalchemy.exc import IntegrityError

from truce.config import TruceConfig
from truce.domain.access import role_of
from truce.domain.lifecycle import IllegalMove, check_move
from truce.imports import values as cells
from truce.imports.upsert import jsonable
from truce.services.lifecycle import NotFound
from truce.store import work
from truce.store.models import (
    Account,
    Base,
    Campaign,
    Contact,
    Opportunity,
    StageChange,
    Touchpoint,
    User,
)

MAX_LIMIT = 500
MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1  # SQLite's and PostgreSQL's largest integer
DEFAULT_LIMIT = 50
LARGEST_MONEY = Decimal(10) ** 16  # NUMERIC(18, 2)
LOWEST_DISCOUNT = Decimal(-999)  # NUMERIC(7, 4)


class RecordNotFound(NotFound):
    """No record with that id."""


class RecordConflict(ValueError):
    """Another record already holds a unique value (an email, a domain, an external id)."""


class InvalidField(ValueError):
    """One field of the request is not acceptable; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


# ---- what each kind of record is ---------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    entity: str  # as the audit log names it
    model: type[Base]
    unique: tuple[str, ...] = ()  # columns no two records share, checked before a write
    owned: bool = False  # has owner_id, shown with the owner's email

    @property
    def table(self) -> Table:
        # A mapped class's __table__ is its Table; SQLAlchemy types it as the wider FromClause.
        return cast(Table, self.model.__table__)


KINDS = {
    "accounts": Kind("account", Account, ("domain", "external_id"), owned=True),
    "contacts": Kind("contact", Contact, ("email", "external_id"), owned=True),
    "campaigns": Kind("campaign", Campaign, ("external_id",), owned=True),
    "opportunities": Kind("opportunity", Opportunity, ("external_id",), owned=True),
    "touchpoints": Kind("touchpoint", Touchpoint),
    "users": Kind("user", User),
    "stage_changes": Kind("stage_change", StageChange),
}
OWNER = User.__table__.alias("owner")


def _query(kind: Kind):
    if kind.model is User:
        return select(*(c for c in User.__table__.c if c.name != "password_hash"))
    if kind.owned:
        return select(kind.table, OWNER.c.email.label("owner")).outerjoin(OWNER, OWNER.c.id == kind.table.c.owner_id)
    return select(kind.table)


def _shown(kind: Kind, row) -> dict:
    record = dict(row._mapping)
    if kind.model is User:
        record["role"] = role_of(record["team"], record["access"])
    return record


# ---- pages ----------------------------------------------------------------------------------------


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidField("limit", f"limit is from 1 to {MAX_LIMIT}, not {limit}")
    return limit


def paged(conn: Connection, query, id_column, limit: int, cursor: str | None, offset: int | None, newest_first=False):
    """(rows, the cursor of the following page or None): one page of `query` in id order."""
    if cursor is not None and offset is not None:
        raise InvalidField("offset", "page with cursor or with offset, not both")
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > MAX_BIG_ID:
            raise InvalidField("cursor", f"not a cursor from this API: {cursor!r}")
        after = int(cursor)
        query = query.where(id_column < after if newest_first else id_column > after)
    query = query.order_by(id_column.desc() if newest_first else id_column).limit(_limit(limit) + 1)
    if offset is not None:
        query = query.offset(offset)
    rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1]._mapping[id_column.name]) if more else None)


def moment_filter(column, moment: dt.datetime | None, *, before: bool = False):
    """`column` at or after `moment` (before it, with before=True); no moment, no filter. Naive means UTC."""
    if moment is None:
        return true()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return column < moment if before else column >= moment


def _filters(kind_name: str, config: TruceConfig, filters: dict) -> list:
    """The WHERE clauses for one kind's filters (None: not filtered)."""
    kind = KINDS[kind_name]
    t = kind.table.c
    f = {k: v for k, v in filters.items() if v is not None}
    where = []

    def equal(field: str):
        if field in f:
            where.append(t[field] == f[field])

    if kind.owned and "owner" in f:
        where.append(OWNER.c.email == f["owner"].strip().lower())
    if "updated_since" in f:
        where.append(moment_filter(t.updated_at, f["updated_since"]))
    if kind_name == "contacts":
        if "stage" in f and f["stage"] not in config.funnel.stage_keys:
            raise InvalidField(
                "stage", f"unknown stage {f['stage']!r}; known stages: {', '.join(config.funnel.stage_keys)}"
            )
        equal("stage")
        equal("account_id")
        equal("source_channel")
        if "email" in f:
            where.append(t.email == f["email"].strip().lower())
    elif kind_name == "accounts":
        for name in ("segment", "region", "is_key_account"):
            equal(name)
        if "domain" in f:
            where.append(t.domain == f["domain"].strip().lower())
    elif kind_name == "campaigns":
        equal("channel")
        equal("owning_team")
    elif kind_name == "opportunities":
        for name in ("status", "stage", "account_id"):
            equal(name)
    elif kind_name == "touchpoints":
        for name in ("contact_id", "campaign_id", "channel", "kind"):
            equal(name)
        where.append(moment_filter(t.occurred_at, f.get("since")))
        where.append(moment_filter(t.occurred_at, f.get("until"), before=True))
    elif kind_name == "users":
        equal("team")
        equal("active")
    elif kind_name == "stage_changes":
        for name in ("entity_type", "entity_id", "to_stage"):
            equal(name)
        where.append(moment_filter(t.changed_at, f.get("since")))
        where.append(moment_filter(t.changed_at, f.get("until"), before=True))
    return where


def list_records(
    engine: Engine,
    config: TruceConfig,
    kind_name: str,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    offset: int | None = None,
    **filters,
) -> dict:
    """{"items": [...], "next": cursor or None}: one page of records matching every filter given."""
    kind = KINDS[kind_name]
    query = _query(kind).where(and_(true(), *_filters(kind_name, config, filters)))
    with engine.connect() as conn:
        rows, following = paged(conn, query, kind.table.c.id, limit, cursor, offset)
    return {"items": [_shown(kind, r) for r in rows], "next": following}


def get_record(engine: Engine, kind_name: str, record_id: int) -> dict:
    kind = KINDS[kind_name]
    with engine.connect() as conn:
        return _read(conn, kind, record_id)


def _read(conn: Connection, kind: Kind, record_id: int) -> dict:
    row = conn.execute(_query(kind).where(kind.table.c.id == record_id)).first()
    if row is None:
        raise RecordNotFound(f"no {kind.entity.replace('_', ' ')} with id {record_id}")
    return _shown(kind, row)


def contact_email(engine: Engine, key: str) -> str:
    """A contact named by its email or its id, as the email the lifecycle services take."""
    if not (key.isascii() and key.isdigit()):
        return key
    if int(key) > MAX_ID:
        raise RecordNotFound(f"no contact with id {key}")
    with engine.connect() as conn:
        email = conn.execute(select(Contact.email).where(Contact.id == int(key))).scalar_one_or_none()
    if email is None:
        raise RecordNotFound(f"no contact with id {key}")
    return email


# ---- writes ---------------------------------------------------------------------------------------


def _audit(conn: Connection, actor: str, action: str, kind: Kind, record_id: int, before, after, now) -> None:
    def plain(values):
        return None if values is None else {k: jsonable(v) for k, v in values.items()}

    work.record(conn, action, kind.entity, record_id, plain(before), plain(after), actor=actor, at=now)


def _user_id(conn: Connection, email: str | None, field: str = "owner") -> int | None:
    if email is None:
        return None
    found = conn.execute(select(User.id).where(User.email == email.strip().lower())).scalar_one_or_none()
    if found is None:
        raise InvalidField(field, f"no user with email {email.strip()!r}")
    return found


def _exists(conn: Connection, model, field: str, ident: int | None) -> None:
    if ident is not None and conn.execute(select(model.id).where(model.id == ident)).first() is None:
        raise InvalidField(field, f"no {field.removesuffix('_id').replace('primary_', '')} with id {ident}")


def _unique(conn: Connection, kind: Kind, values: dict, record_id: int | None) -> None:
    for column in kind.unique:
        value = values.get(column)
        if value is None:
            continue
        other = conn.execute(select(kind.table.c.id).where(kind.table.c[column] == value)).scalar_one_or_none()
        if other is not None and other != record_id:
            raise RecordConflict(f"{column} {value!r} already belongs to {kind.entity} {other}")


def _normal(field: str, value, parse: Callable):
    if value is None:
        return None
    try:
        return parse(value)
    except cells.BadValue as exc:
        raise InvalidField(field, str(exc)) from None


def _columns(conn: Connection, config: TruceConfig, kind_name: str, given: dict) -> dict:
    """Store columns from request fields: emails to user ids, references checked, values normalised."""
    values = dict(given)
    if "owner" in values:
        values["owner_id"] = _user_id(conn, values.pop("owner"))
    if "email" in values:
        values["email"] = _normal("email", values["email"], cells.email)
    if "domain" in values:
        values["domain"] = _normal("domain", values["domain"], cells.domain)
    for name in ("channel", "source_channel"):
        if name in values:
            values[name] = _normal(name, values[name], cells.channel)
    for field, model in (
        ("account_id", Account),
        ("primary_contact_id", Contact),
        ("campaign_id", Campaign),
    ):
        if field in values:
            _exists(conn, model, field, values[field])
    return values


def _changed(stored: dict, values: dict) -> dict:
    return {k: v for k, v in values.items() if stored.get(k) != v}


def _write(engine: Engine, actor: str, origin: str, action: Callable[[Connection], dict]) -> dict:
    try:
        with work.unit_of_work(engine, actor, origin) as job:
            return action(job.conn)
    except IntegrityError as exc:  # someone else took the value between our check and our write
        raise RecordConflict(f"the change conflicts with another record: {exc.orig}") from None


def create_record(
    engine: Engine, config: TruceConfig, kind_name: str, given: dict, *, actor_id: int, actor: str, origin: str = "api"
) -> dict:
    """Create one account, contact, campaign or opportunity from the fields given; audited."""
    kind = KINDS[kind_name]

    def create(conn: Connection) -> dict:
        now = dt.datetime.now(dt.UTC)
        values = _columns(conn, config, kind_name, given)
        CREATING[kind_name](conn, config, values, now)
        _unique(conn, kind, values, None)
        stamps = {name: now for name in ("created_at", "updated_at") if name in kind.table.c and name not in values}
        record_id = conn.execute(insert(kind.model).returning(kind.table.c.id), {**values, **stamps}).scalar_one()
        _audit(conn, actor, "create", kind, record_id, None, values, now)
        CREATED.get(kind_name, _nothing)(conn, config, record_id, values, now, actor_id)
        return _read(conn, kind, record_id)

    return _write(engine, actor, origin, create)


def update_record(
    engine: Engine,
    config: TruceConfig,
    kind_name: str,
    record_id: int,
    given: dict,
    *,
    actor_id: int,
    actor: str,
    origin: str = "api",
) -> dict:
    """Change the fields given (null clears one); audited with their values before and after."""
    kind = KINDS[kind_name]

    def change(conn: Connection) -> dict:
        now = dt.datetime.now(dt.UTC)
        stored = _stored(conn, kind, record_id)
        values = _columns(conn, config, kind_name, given)
        UPDATING.get(kind_name, _nothing_changes)(conn, config, stored, values)
        changed = _changed(stored, values)
        if changed:
            _unique(conn, kind, changed, record_id)
            stamp = {"updated_at": now} if "updated_at" in kind.table.c else {}
            conn.execute(update(kind.table).where(kind.table.c.id == record_id).values(**changed, **stamp))
            _audit(conn, actor, "update", kind, record_id, {k: stored[k] for k in changed}, changed, now)
            UPDATED.get(kind_name, _nothing)(conn, config, record_id, {"before": stored, **changed}, now, actor_id)
        return _read(conn, kind, record_id)

    return _write(engine, actor, origin, change)


def set_campaign_cost(engine: Engine, campaign_id: int, given: dict, *, actor: str, origin: str = "api") -> dict:
    """A campaign's budget and actual cost (marketing's call); audited like any update."""
    kind = KINDS["campaigns"]

    def change(conn: Connection) -> dict:
        stored = _stored(conn, kind, campaign_id)
        changed = _changed(stored, given)
        if changed:
            now = dt.datetime.now(dt.UTC)
            conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(**changed))
            _audit(conn, actor, "campaign_cost", kind, campaign_id, {k: stored[k] for k in changed}, changed, now)
        return _read(conn, kind, campaign_id)

    return _write(engine, actor, origin, change)


def _stored(conn: Connection, kind: Kind, record_id: int) -> dict:
    query = select(kind.table).where(kind.table.c.id == record_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # two updates of one record: the second sees the first's result
    row = conn.execute(query).mappings().first()
    if row is None:
        raise RecordNotFound(f"no {kind.entity} with id {record_id}")
    return dict(row)


# ---- what each kind adds to a write ------------------------------------------------------------


def _nothing(*_args) -> None:
    pass


def _nothing_changes(conn, config, stored, values) -> None:
    pass


def _new_contact(conn: Connection, config: TruceConfig, values: dict, now) -> None:
    values["stage"] = values.get("stage") or config.funnel.stages[0].key
    try:
        check_move(config.funnel, None, values["stage"])
    except IllegalMove as exc:
        raise InvalidField("stage", str(exc)) from None


def _contact_entered(conn: Connection, config: TruceConfig, contact_id: int, values: dict, now, actor_id) -> None:
    """Entering the funnel is a move like any other: into the ledger, and into the handoff queue at MQL."""
    from truce.imports.writers.ledger import append_moves, move
    from truce.services import handoff

    stage = values["stage"]
    append_moves(conn, [move(config, contact_id, None, stage, now, now, origin="api", changed_by_id=actor_id)])
    if stage == config.funnel.handoff_stage:
        handoff.open_handoff(conn, config, contact_id, now)


def _new_campaign(conn: Connection, config: TruceConfig, values: dict, now) -> None:
    _campaign_dates(values.get("starts_on"), values.get("ends_on"))


def _changed_campaign(conn: Connection, config: TruceConfig, stored: dict, values: dict) -> None:
    starts = values["starts_on"] if "starts_on" in values else stored["starts_on"]
    ends = values["ends_on"] if "ends_on" in values else stored["ends_on"]
    _campaign_dates(starts, ends)


def _campaign_dates(starts: dt.date | None, ends: dt.date | None) -> None:
    if starts and ends and ends < starts:
        raise InvalidField("ends_on", f"the campaign ends {ends} before it starts {starts}")


def _new_opportunity(conn: Connection, config: TruceConfig, values: dict, now) -> None:
    values.setdefault("status", None)
    values["status"] = values["status"] or config.deal_status(values["stage"])
    values["currency"] = values.get("currency") or config.company.currency
    _price(values, values)


def _changed_opportunity(conn: Connection, config: TruceConfig, stored: dict, values: dict) -> None:
    if values.get("stage") not in (None, stored["stage"]) and "status" not in values:
        values["status"] = config.deal_status(values["stage"])
    _price({**stored, **values}, values)


def _price(deal: dict, values: dict) -> None:
    """Amount, list amount and discount agree, as on import: any two of them give the third."""
    amount, listed, rate = deal.get("amount"), deal.get("list_amount"), deal.get("discount_rate")
    if values.get("discount_rate") is not None and "list_amount" not in values:
        listed = None  # a new discount replaces the list price it implied
    if listed is not None and amount is not None and listed > 0 and "discount_rate" not in values:
        discount = (1 - amount / listed).quantize(Decimal("0.0001"))
        if discount <= LOWEST_DISCOUNT:
            raise InvalidField("list_amount", f"the amount {amount} is more than 1,000 times the list amount {listed}")
        values["discount_rate"] = discount
    elif listed is None and amount is not None and rate is not None and rate < 1:
        implied = (amount / (1 - rate)).quantize(Decimal("0.01"))
        if implied >= LARGEST_MONEY:
            raise InvalidField(
                "discount_rate", f"a discount of {rate} on {amount} implies a list amount too large to keep"
            )
        values["list_amount"] = implied


def _deal_moved(conn: Connection, config: TruceConfig, deal_id: int, values: dict, now, actor_id) -> None:
    before = values["before"]["stage"] if "before" in values else None
    if "stage" not in values or values["stage"] == before:
        return
    conn.execute(
        insert(StageChange),
        {
            "entity_type": "opportunity",
            "entity_id": deal_id,
            "from_stage": before,
            "to_stage": values["stage"],
            "changed_at": now,
            "changed_by_id": actor_id,
            "origin": "api",
            "recorded_at": now,
        },
    )


CREATING = {
    "accounts": lambda conn, config, values, now: values.setdefault("is_key_account", False),
    "contacts": _new_contact,
    "campaigns": _new_campaign,
    "opportunities": _new_opportunity,
}
CREATED = {"contacts": _contact_entered, "opportunities": _deal_moved}
UPDATING = {"campaigns": _changed_campaign, "opportunities": _changed_opportunity}
UPDATED = {"opportunities": _deal_moved}
