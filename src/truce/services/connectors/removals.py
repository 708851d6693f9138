"""Records deleted or merged in the CRM: marked in truce, never erased, their history kept.

A contact, account or deal the CRM deleted gets `deleted_at`; one merged away gets `deleted_at`
and `merged_into_id` (the survivor, same table). Its stage ledger, handoffs and audit entries
stay where they are, readable from the survivor; its touches and deals move to the survivor, who
is the same person or company. Reports leave removed records out. A touch (engagement, task,
campaign membership) deleted in the CRM is removed from truce's touches, with an audit entry
that keeps what it was.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sqlalchemy import Engine, Table, delete, select, update

from truce.imports.dialects import ID_COLUMN
from truce.store.models import Account, Contact, Opportunity, StageChange, Touchpoint

REMOVABLE = {"contacts": Contact.__table__, "accounts": Account.__table__, "opportunities": Opportunity.__table__}
# What points at a merged-away record and follows it to the survivor: the same person's touches
# and deals, the same company's people, deals and touches. The ledger and handoffs stay: history.
FOLLOWERS = {
    "contacts": ((Touchpoint.__table__, "contact_id"), (Opportunity.__table__, "primary_contact_id")),
    "accounts": (
        (Contact.__table__, "account_id"),
        (Opportunity.__table__, "account_id"),
        (Touchpoint.__table__, "account_id"),
    ),
    "opportunities": (),
}
TABLES = {**REMOVABLE, "touchpoints": Touchpoint.__table__}


def id_column(table: Table, dialect: str) -> str:
    wanted = ID_COLUMN[dialect]
    return wanted if wanted in table.c else "external_id"


def soft_delete(work, table_name: str, dialect: str, crm_ids: Iterable[str]) -> int:
    """Mark the records with these CRM ids deleted (touches: remove them). How many changed."""
    crm_ids = sorted(set(crm_ids))
    table = TABLES.get(table_name)
    if not crm_ids or table is None:
        return 0
    column = table.c[id_column(table, dialect)]
    if table_name == "touchpoints":
        gone = work.conn.execute(select(table).where(column.in_(crm_ids))).mappings().all()
        if gone:
            work.conn.execute(delete(table).where(column.in_(crm_ids)))
            work.record_many(
                {"action": "crm_deleted", "entity_type": "touchpoint", "entity_id": row["id"],
                 "before": _plain(row), "after": None}
                for row in gone
            )  # fmt: skip
        return len(gone)
    ids = work.conn.execute(select(table.c.id).where(column.in_(crm_ids), table.c.deleted_at.is_(None))).scalars().all()
    if ids:
        work.conn.execute(update(table).where(table.c.id.in_(ids)).values(deleted_at=work.now))
        work.record_many(
            {"action": "crm_deleted", "entity_type": table_name.rstrip("s"), "entity_id": row_id,
             "before": {"deleted_at": None}, "after": {"deleted_at": work.now.isoformat()}}
            for row_id in ids
        )  # fmt: skip
    return len(ids)


def merge(work, table_name: str, dialect: str, pairs: Iterable[tuple[str, str]]) -> int:
    """Each (merged-away CRM id, surviving CRM id): the loser marked and pointed at the survivor,
    what follows it moved. A pair whose records truce does not both hold is left (nothing to merge)."""
    table = REMOVABLE.get(table_name)
    pairs = list(pairs)
    if table is None or not pairs:
        return 0
    column = table.c[id_column(table, dialect)]
    wanted = {crm_id for pair in pairs for crm_id in pair}
    found = dict(work.conn.execute(select(column, table.c.id).where(column.in_(wanted))).all())
    merged = 0
    for loser_crm, survivor_crm in pairs:
        loser, survivor = found.get(loser_crm), found.get(survivor_crm)
        if loser is None or survivor is None or loser == survivor:
            continue
        already = work.conn.execute(select(table.c.merged_into_id).where(table.c.id == loser)).scalar_one()
        if already == survivor:
            continue  # the same merge seen again: nothing changes
        for follower, reference in FOLLOWERS[table_name]:
            if reference in follower.c:
                work.conn.execute(update(follower).where(follower.c[reference] == loser).values({reference: survivor}))
        work.conn.execute(update(table).where(table.c.id == loser).values(deleted_at=work.now, merged_into_id=survivor))
        work.record(
            "crm_merged", table_name.rstrip("s"), loser, {"merged_into_id": already},
            {"merged_into_id": survivor, "crm_id": loser_crm, "survivor_crm_id": survivor_crm},
        )  # fmt: skip
        merged += 1
    return merged


def contacts_of(conn, table_name: str, dialect: str, rows: list[dict]) -> set[int]:
    """The truce contacts a page's rows are about (for the handoffs they start or end)."""
    if table_name == "contacts":
        column = Contact.__table__.c[id_column(Contact.__table__, dialect)]
        crm_ids = [row.get("external_id") for row in rows if row.get("external_id")]
        emails = [row["email"].strip().lower() for row in rows if row.get("email")]
        found = set()
        if crm_ids:
            found |= set(conn.execute(select(Contact.id).where(column.in_(crm_ids))).scalars())
        if emails:
            found |= set(conn.execute(select(Contact.id).where(Contact.email.in_(emails))).scalars())
        return found
    if table_name == "stage_changes":
        ids = [row.get("external_id") for row in rows if row.get("external_id")]
        if not ids:
            return set()
        query = select(StageChange.entity_id).where(
            StageChange.external_id.in_(ids), StageChange.entity_type == "contact"
        )
        return set(conn.execute(query).scalars())
    return set()


def missing_from(engine: Engine, table_name: str, dialect: str, seen, prefix: str = "") -> list[str]:
    """CRM ids truce holds (not yet removed) for this table that a full listing did not return.

    `seen` holds the listed ids' hash() values (an array, or any iterable of ints): compared in
    numpy, a million ids cost megabytes, not the hundreds a set of strings would."""
    table = TABLES.get(table_name)
    if table is None:
        return []
    listed = np.unique(np.asarray(seen, dtype=np.int64))
    column = table.c[id_column(table, dialect)]
    query = select(column).where(column.is_not(None))
    if "deleted_at" in table.c:
        query = query.where(table.c.deleted_at.is_(None))
    if prefix:
        query = query.where(column.startswith(prefix, autoescape=True))
    missing: list[str] = []
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=50_000).execute(query).scalars()
        for chunk in result.partitions():
            hashes = np.fromiter(map(hash, chunk), dtype=np.int64, count=len(chunk))
            found = np.isin(hashes, listed, assume_unique=False)
            missing.extend(crm_id for crm_id, ok in zip(chunk, found, strict=True) if not ok)
    return missing


def _plain(row) -> dict:
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if v is not None else None) for k, v in row.items()
    }
