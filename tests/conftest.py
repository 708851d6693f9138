"""Fixtures shared by every test: a migrated store on SQLite and, where available, PostgreSQL.

PostgreSQL tests need TRUCE_TEST_DATABASE_URL (scripts/test starts a throwaway cluster and
sets it). Without it they are skipped with a visible reason on a developer's machine, and
they fail in CI (CI=true), where skipping would hide a broken database path.

Spark tests (marked `spark`; `-m "not spark"` leaves them out) use `spark_con`, one local
SparkSession for the whole run; they need the spark extra and Java, with the same rule.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from truce import config as truce_config
from truce.store import db

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("TRUCE_TEST_DATABASE_URL")
PG_TEMPLATE = "truce_template"


def needs(what: str, available: bool, reason: str | None = None) -> None:
    """Skip a test whose service is missing here; in CI, fail instead of skipping."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available" + (f": {reason}" if reason else ""))
    pytest.skip(reason or f"{what} is not available on this machine")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = db.connect(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    return str(path)


def _admin_engine():
    return create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template():
    if not PG_URL:
        yield None
        return
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEMPLATE}"))
        conn.execute(text(f"CREATE DATABASE {PG_TEMPLATE}"))
    engine = db.connect(str(make_url(PG_URL).set(database=PG_TEMPLATE)))
    db.upgrade(engine)
    engine.dispose()
    yield PG_TEMPLATE
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEMPLATE}"))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template) -> str:
    path = tmp_path / "truce.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_url(postgres_template) -> str:
    needs("PostgreSQL (TRUCE_TEST_DATABASE_URL)", postgres_template is not None)
    name = f"truce_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {postgres_template}"))
    yield str(make_url(PG_URL).set(database=name)).replace("***", make_url(PG_URL).password or "")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    """A migrated, empty store on each backend truce supports."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def engine(database_url):
    engine = db.connect(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    engine = db.connect(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def spark_con():
    """An Ibis connection to one local SparkSession (truce.analytics.spark), for the whole run."""
    from truce.analytics import spark

    needs("Spark", spark.pyspark_available(), "PySpark not installed (pip install -e '.[spark]')")
    needs("Spark", spark.java_available(), "Java not found")
    return spark.spark_connection()


@pytest.fixture(scope="session")
def default_config():
    return truce_config.parse(truce_config.default_text(), "truce.toml")
