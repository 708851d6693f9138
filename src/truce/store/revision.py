"""The store's revision: which version of the data a computed answer belongs to."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from truce.store.models import AuditEntry, StageChange


def data_revision(engine: Engine) -> tuple[int, int]:
    """(newest audit entry, newest stage move).

    Every write through every face (CLI, imports, API, web, another process) adds an audit
    entry, and both tables only grow, so any write moves one of the two numbers. One indexed
    look-up each: cheap enough to ask before every read of a computed report.
    """
    with engine.connect() as conn:
        newest = conn.execute(
            select(select(func.max(AuditEntry.id)).scalar_subquery(), select(func.max(StageChange.id)).scalar_subquery())
        ).one()
    return (newest[0] or 0, newest[1] or 0)
