"""Finding the records an import row refers to: its owner, its account, its contact, its campaign."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import Connection, String, Table, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB

from truce.store.models import Account, Campaign, Contact, Opportunity, User

CHUNK = 20_000  # keys per statement: one JSON parameter each, so SQLite's bound-parameter limit does not apply


def _keys(conn: Connection, table: Table, column: str, keys: list):
    """The keys as a table one statement can join to `table` on its index, sent as one JSON parameter.

    PostgreSQL plans `col = ANY(:array)` with a large array as a sequential scan, and psycopg
    dumps a Python list element by element; a JSON text joined through unnest-like
    jsonb_array_elements_text is one cheap parameter and an index lookup per key.
    """
    document = bindparam("keys", json.dumps(keys), type_=String)
    if conn.dialect.name == "postgresql":
        listed = func.jsonb_array_elements_text(cast(document, JSONB)).table_valued("value").alias("wanted")
        stored = table.c[column]
        # Text compares as text (a cast to varchar(n) would cut a longer key and match wrongly).
        key = listed.c.value if isinstance(stored.type, String) else cast(listed.c.value, stored.type)
        return listed, stored == key
    listed = func.json_each(document).table_valued("value").alias("wanted")
    return listed, table.c[column] == listed.c.value


def fetch_by(conn: Connection, table: Table, column: str, keys: Iterable, columns=None) -> dict:
    """Rows of `table` whose `column` is one of `keys`, as {key: row mapping}; `columns` to fetch fewer."""
    wanted = sorted({k for k in keys if k is not None})
    found: dict = {}
    selected = list(columns) if columns is not None else list(table.c)
    if column not in {c.name for c in selected}:
        selected.append(table.c[column])
    for start in range(0, len(wanted), CHUNK):
        listed, joined_on = _keys(conn, table, column, wanted[start : start + CHUNK])
        for row in conn.execute(select(*selected).join_from(table, listed, joined_on)).mappings():
            found[row[column]] = row
    return found


def find_ids(conn: Connection, table: Table, column: str, keys: Iterable) -> dict:
    """{key: id} for the rows of `table` whose `column` is one of `keys`, a batch in one statement."""
    wanted = sorted({k for k in keys if k is not None})
    found: dict = {}
    for start in range(0, len(wanted), CHUNK):
        listed, joined_on = _keys(conn, table, column, wanted[start : start + CHUNK])
        query = select(table.c.id, table.c[column]).join_from(table, listed, joined_on)
        found.update({value: row_id for row_id, value in conn.execute(query)})
    return found


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
