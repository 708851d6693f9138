"""What is in the store: rows per table and the schema version."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from truce.store import db
from truce.store.models import Base


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in sorted(Base.metadata.tables.items())
        }


def status(engine: Engine) -> dict:
    return {
        "database": db.describe(str(engine.url)),
        "schema_version": db.current_revision(engine),
        "schema_head": db.head_revision(),
        "tables": row_counts(engine),
    }
