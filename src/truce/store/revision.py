"""The store's revision: which version of the data a computed answer belongs to."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select

from truce.store.models import StoreRevision


def data_revision(engine: Engine) -> int:
    """The number every unit of work that changes data moves by one (truce.store.work).

    Log-ins, sessions and token use do not move it. One primary-key read: cheap enough to ask
    before every read of a computed report.
    """
    with engine.connect() as conn:
        return revision_in(conn)


def revision_in(conn: Connection) -> int:
    return conn.execute(select(StoreRevision.revision).where(StoreRevision.id == 1)).scalar_one_or_none() or 0
