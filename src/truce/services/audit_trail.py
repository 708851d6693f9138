"""Reading the audit trail: every write by any face, newest first, filtered by who, what, which record and when.

One reader for both faces: the REST API's GET /api/v1/audit and the web /audit page call
`entries` (the web page shows the first page), and the page fills its filter menus from
`choices`. Pages are the records' pages (truce.services.records): `limit` 1–500, then the
`next` cursor or an offset. Nothing here, and no face, changes an entry: the store's
triggers refuse UPDATE and DELETE on audit_log.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from truce.services.records import DEFAULT_LIMIT, InvalidField, moment_filter, paged
from truce.store.models import AuditEntry


class AuditQueryError(InvalidField):
    """A filter or page the trail cannot use; `field` names it and the message says what would work."""


def entries(
    engine: Engine,
    *,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    offset: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> dict:
    """{"items": [...], "next": cursor or None}: the newest entries matching every filter given.

    `actor` matches regardless of case; `since` is inclusive, `until` exclusive.
    """
    t = AuditEntry.__table__.c
    where = [moment_filter(t.at, since), moment_filter(t.at, until, before=True)]
    if actor is not None:
        where.append(func.lower(t.actor) == actor.strip().lower())
    for column, value in ((t.action, action), (t.entity_type, entity_type), (t.entity_id, entity_id)):
        if value is not None:
            where.append(column == value)
    try:
        with engine.connect() as conn:
            rows, following = paged(
                conn, select(AuditEntry.__table__).where(*where), t.id, limit, cursor, offset, newest_first=True
            )
    except InvalidField as exc:
        raise AuditQueryError(exc.field, exc.message) from None
    return {"items": [dict(r._mapping) for r in rows], "next": following}


def choices(engine: Engine) -> dict:
    """{"actions": [...], "entity_types": [...]}: every value the trail holds, for filter menus."""
    with engine.connect() as conn:
        actions = conn.execute(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).scalars().all()
        kinds = conn.execute(select(AuditEntry.entity_type).distinct().order_by(AuditEntry.entity_type)).scalars()
        return {"actions": list(actions), "entity_types": list(kinds)}


# ---- a config change as a diff -------------------------------------------------------------------

CONFIG_ACTIONS = frozenset({"funnel_config_edit"})
DIFF_CONTEXT = 2  # unchanged lines shown around each change


def config_diff(entry: dict) -> list[dict] | None:
    """A config edit's before and after as a unified diff of their TOML, one {"kind", "text"} per line
    (kind: "add", "remove", "same" or "hunk"); None for any other entry. The trail keeps the sections
    as data, so the TOML is written again from them: what changed reads as the lines that changed,
    not as two truncated dumps."""
    import difflib

    from truce.services.funnel_config import to_toml

    if entry.get("action") not in CONFIG_ACTIONS:
        return None
    before = to_toml(entry.get("before") or {}).splitlines()
    after = to_toml({k: v for k, v in (entry.get("after") or {}).items() if k not in ("file", "version")}).splitlines()
    lines = []
    for line in list(difflib.unified_diff(before, after, "before", "after", n=DIFF_CONTEXT, lineterm=""))[2:]:
        kind = {"+": "add", "-": "remove", "@": "hunk"}.get(line[:1], "same")
        lines.append({"kind": kind, "text": line})
    return lines
