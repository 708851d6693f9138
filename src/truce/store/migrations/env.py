"""Alembic environment: truce hands over its own engine, so migrations run on SQLite and PostgreSQL alike."""

from alembic import context

from truce.store.models import Base
from truce.store.work import KEY, MIGRATING

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from truce.store.db import connect

    engine = connect()

with engine.connect() as connection:
    # Schema changes, and the rows a migration seeds, are not a user's write (truce.store.work).
    connection.info[KEY] = MIGRATING
    try:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations rebuild SQLite tables; other tables' foreign keys would block that.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things in place; batch mode copies the table instead.
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    finally:
        connection.info.pop(KEY, None)
