"""SOQL for incremental reads: a keyset on (modified time, Id), and literals quoted safely.

A cursor is the text `"<timestamp>|<Id>"` of the last record a page held, in the order
`ORDER BY <stamp>, Id`. The next read asks for records after that pair, so records sharing one
timestamp (a mass update stamps thousands alike) are neither read twice nor skipped when a page
ends between them. The stamp is SystemModstamp (changed by every edit, also by the system) or,
for history rows, which are never edited, CreatedDate.
"""

from __future__ import annotations

import datetime as dt
import re

ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def quoted(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped (SOQL has no bound parameters)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def record_id(value: str) -> str:
    """A Salesforce id, checked: ids go into SOQL, so anything else is refused, not escaped."""
    if not ID.match(value or ""):
        raise ValueError(f"{value!r} is not a Salesforce record id (15 or 18 letters and digits)")
    return value


def stamp(text: str) -> dt.datetime:
    """Salesforce's `2026-12-01T10:00:00.000+0000` (or ISO with Z / +00:00) as an aware datetime."""
    text = text.strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def literal(text: str) -> str:
    """A datetime literal for SOQL (unquoted, UTC, milliseconds)."""
    moment = stamp(text).astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def cursor_of(record: dict, stamp_field: str) -> str:
    return f"{record[stamp_field]}|{record['Id']}"


def after(cursor: str | None, stamp_field: str) -> str | None:
    """The WHERE condition for records after a cursor (None: from the beginning)."""
    if not cursor:
        return None
    moment, _, last_id = cursor.partition("|")
    at = literal(moment)
    if not last_id:
        return f"{stamp_field} > {at}"
    return f"({stamp_field} > {at} OR ({stamp_field} = {at} AND Id > {quoted(record_id(last_id))}))"


def select(fields: tuple[str, ...], obj: str, *conditions: str | None, order: str | None = None) -> str:
    wanted = [c for c in conditions if c]
    text = f"SELECT {', '.join(fields)} FROM {obj}"
    if wanted:
        text += " WHERE " + " AND ".join(wanted)
    if order:
        text += f" ORDER BY {order}"
    return text


def ids_in(column: str, ids: list[str]) -> str:
    return f"{column} IN ({', '.join(quoted(record_id(i)) for i in ids)})"
