"""Finding the records an import row refers to: its owner, its account, its contact, its campaign."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import Connection, Table, bindparam, select, text

from truce.store.models import Account, Campaign, Contact, Opportunity, User

CHUNK = 5000  # keeps every IN (...) list well under SQLite's bound-parameter limit (32,766)


def fetch_by(conn: Connection, table: Table, column: str, keys: Iterable, columns=None) -> dict:
    """Rows of `table` whose `column` is one of `keys`, as {key: row mapping}."""
    wanted = sorted({k for k in keys if k is not None})
    found: dict = {}
    selected = columns or [table]
    query = select(*selected).where(table.c[column].in_(bindparam("keys", expanding=True)))
    for start in range(0, len(wanted), CHUNK):
        for row in conn.execute(query, {"keys": wanted[start : start + CHUNK]}).mappings():
            found[row[column]] = row
    return found


def find_ids(conn: Connection, table: Table, column: str, keys: Iterable) -> dict:
    """{key: id} for the rows of `table` whose `column` is one of `keys`.

    One bound parameter carries the whole list (a JSON array on SQLite, an array on
    PostgreSQL), so looking up a batch of 20,000 emails is one cheap statement.
    """
    wanted = sorted({k for k in keys if k is not None})
    if not wanted:
        return {}
    if conn.dialect.name == "postgresql":
        query = text(f"SELECT id, {column} FROM {table.name} WHERE {column} = ANY(:keys)")
        rows = conn.execute(query, {"keys": wanted})
    else:
        query = text(f"SELECT id, {column} FROM {table.name} WHERE {column} IN (SELECT value FROM json_each(:keys))")
        rows = conn.execute(query, {"keys": json.dumps(wanted)})
    return {value: row_id for row_id, value in rows}


def find_ids_folded(conn: Connection, table: Table, column: str) -> dict:
    """{casefolded value: id} for every row. SQL's lower() folds only ASCII on SQLite (and in
    PostgreSQL's C locale), so "ÖKO Energie" and "Straße AG" would never meet their own names."""
    found: dict = {}
    for row_id, value in conn.execute(select(table.c.id, table.c[column]).order_by(table.c.id)):
        if value is not None:
            found.setdefault(value.casefold(), row_id)
    return found


class People:
    """Users by email, external id or name: an export names an owner in any of those ways."""

    def __init__(self, conn: Connection):
        self._by_key: dict[str, tuple[int, str]] = {}
        self._team: dict[int, str] = {}
        for user in conn.execute(select(User.id, User.email, User.external_id, User.name, User.team)):
            self._team[user.id] = user.team
            for key in (user.email, user.external_id, user.name):
                if key:
                    self._by_key.setdefault(key.strip().casefold(), (user.id, user.team))

    def team_of(self, user_id: int) -> str | None:
        return self._team.get(user_id)

    def find(self, reference: str | None) -> tuple[int, str] | None:
        if not reference:
            return None
        return self._by_key.get(reference.strip().casefold())


class Cache:
    """Memoised lookups of one kind of record by one column, filled a batch at a time."""

    def __init__(self, conn: Connection, table: Table, column: str, *, fold_case: bool = False):
        self.conn, self.table, self.column, self.fold_case = conn, table, column, fold_case
        self.known: dict = {}
        self._asked: set = set()
        self._all_loaded = False

    def _key(self, value):
        return value.casefold() if self.fold_case and isinstance(value, str) else value

    def load(self, values: Iterable) -> None:
        if self.fold_case:  # names are few: fetch them all once, then every batch is answered here
            if not self._all_loaded:
                self._all_loaded = True
                for value, row_id in find_ids_folded(self.conn, self.table, self.column).items():
                    self.known.setdefault(value, row_id)
            return
        wanted = {self._key(v) for v in values if v is not None} - self._asked
        if not wanted:
            return
        self._asked |= wanted
        for value, row_id in find_ids(self.conn, self.table, self.column, wanted).items():
            self.known.setdefault(value, row_id)

    def get(self, value):
        return self.known.get(self._key(value))

    def add(self, value, row_id: int) -> None:
        self.known[self._key(value)] = row_id


def account_caches(conn: Connection, id_column: str) -> dict[str, Cache]:
    table = Account.__table__
    return {
        "account_external_id": Cache(conn, table, id_column),
        "account_domain": Cache(conn, table, "domain"),
        "company": Cache(conn, table, "name", fold_case=True),
    }


def contact_caches(conn: Connection, id_column: str) -> dict[str, Cache]:
    table = Contact.__table__
    return {"contact_email": Cache(conn, table, "email"), "contact_external_id": Cache(conn, table, id_column)}


def campaign_caches(conn: Connection, id_column: str) -> dict[str, Cache]:
    table = Campaign.__table__
    column = id_column if id_column in table.c else "external_id"
    return {
        "campaign_external_id": Cache(conn, table, column),
        "campaign_name": Cache(conn, table, "name", fold_case=True),
    }


def opportunity_cache(conn: Connection, id_column: str) -> Cache:
    return Cache(conn, Opportunity.__table__, id_column)
