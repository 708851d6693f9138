"""Fixtures shared by every test: a migrated store on SQLite and, where available, PostgreSQL.

PostgreSQL tests need TRUCE_TEST_DATABASE_URL (scripts/test starts a throwaway cluster and
sets it). Without it they are skipped with a visible reason on a developer's machine, and
they fail in CI (CI=true), where skipping would hide a broken database path.

Spark tests (marked `spark`; `-m "not spark"` leaves them out) use `spark_con`, one local
SparkSession for the whole run; they need the spark extra and Java, with the same rule.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

# pytest-xdist's workers inherit COLUMNS=80, and a Rich console created while COLUMNS is set keeps
# that width for good, so a test's own COLUMNS would be ignored; every worker starts as a plain run does.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)
# PostgreSQL stores' analytical copies (truce.analytics.copy) go to a folder of this run, not ~/.cache.
os.environ.setdefault("TRUCE_COPY_DIR", os.path.join(tempfile.mkdtemp(prefix="truce-copies-")))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from truce import config as truce_config  # noqa: E402
from truce.store import db  # noqa: E402
from truce.store.work import unit_of_work  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("TRUCE_TEST_DATABASE_URL")
# One template per test run: two runs against one server (developers sharing a cluster) must not
# drop or rebuild each other's template half-way.
PG_TEMPLATE = f"truce_template_{uuid.uuid4().hex[:12]}"


@contextmanager
def writing(engine, actor: str = "test"):
    """A test's own rows written straight into the store (the store refuses a write outside a unit
    of work). Set-up is not a user's write: it is let through without an audit entry, so the tests
    that read the trail see only the entries of what they exercise."""
    with unit_of_work(engine, actor, "test") as work:
        yield work.conn
        work.wrote("audit_log")  # test set-up only: the store itself insists on an audit entry


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


@pytest.fixture
def cheap_argon2(monkeypatch):
    """Argon2 at its lowest cost, for tests of what logins allow rather than of the hash (the tests
    of enumeration and of the stand-in hash use the real parameters). Each real hash or check
    costs 0.1 s: a fixture that makes four users with passwords paid half a second per test."""
    from argon2 import PasswordHasher

    from truce.services import logins

    monkeypatch.setattr(logins, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(logins, "_NOBODY", logins._NOBODY)  # the stand-in made for the cheap one goes with it


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


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def chromium_browser():
    """Debian's chromium driven by Playwright, for the whole run (browser tests, marked browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        needs("chromium", False, "Playwright not installed (pip install -e '.[test]')")
    needs("chromium", os.path.exists(CHROMIUM), "chromium not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def local_page(chromium_browser):
    """A page that records every request; `page.outside` lists those that left 127.0.0.1.

    Requests to other hosts are aborted as well as recorded, so a page that tries the network
    fails its test instead of waiting for a timeout.
    """
    from urllib.parse import urlparse

    context = chromium_browser.new_context()
    page = context.new_page()
    page.outside = []

    def guard(route):
        url = route.request.url
        host = urlparse(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost") or url.startswith("file:"):
            route.continue_()
            return
        page.outside.append(url)
        route.abort()

    context.route("**/*", guard)
    yield page
    context.close()


def pytest_collection_modifyitems(items):
    """Schemathesis names each API operation's test in its name but not its node id, so every one
    shares an id; pytest-xdist schedules by id and would run one of them. Give each its own."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and not item.nodeid.endswith("]"):
            from _pytest.nodeid import coerce_node_id

            item._id = coerce_node_id(f"{item.nodeid}[{label}]")
    longest_files_first(items)


# A file not yet timed counts as this many seconds: about a typical file's, so it is neither
# held back to the end nor put ahead of the browser files.
UNTIMED_FILE_SECONDS = 15.0


def longest_files_first(items) -> None:
    """Order the files by their last measured time, longest first (tests/durations.json, written
    by scripts/test-durations); each file's tests keep their order. scripts/test hands out one
    file per worker at a time in this order (--no-loadscope-reorder): the long browser files
    start early instead of ending the run alone on one worker."""
    timings = Path(__file__).parent / "durations.json"
    timed = json.loads(timings.read_text()) if timings.is_file() else {}
    seconds = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        seconds.setdefault(path, timed.get(path, UNTIMED_FILE_SECONDS))
    position = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (-seconds[item.nodeid.split("::")[0]], position[id(item)]))
