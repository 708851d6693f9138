"""One way to write: the unit of work opens the transaction, keeps the audit entries and moves the data revision.

The data revision moves once per unit of work that changed data, and never for log-ins, sessions
or token use. A write outside a unit of work, or a data change nobody audited, is refused by the
store itself; and no module of truce opens a transaction any other way.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from truce.services import logins
from truce.store.errors import UnauditedWrite, WriteOutsideWork
from truce.store.models import AuditEntry, Campaign, FeedbackItem, WebSession
from truce.store.revision import data_revision
from truce.store.work import unit_of_work

SOURCE = Path(__file__).parents[1] / "src" / "truce"
T0 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)


def _campaigns(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Campaign)).scalar_one()


def test_a_write_outside_a_unit_of_work_is_refused(engine):
    with pytest.raises(WriteOutsideWork, match="campaigns outside a unit of work"):
        with engine.begin() as conn:
            conn.execute(insert(Campaign), {"name": "Sneaky", "channel": "email"})
    assert _campaigns(engine) == 0


def test_a_data_change_nobody_audited_is_refused_and_rolled_back(engine):
    before = data_revision(engine)
    with pytest.raises(UnauditedWrite, match="changed campaigns without an audit entry"):
        with unit_of_work(engine, "someone", "test") as work:
            work.conn.execute(insert(Campaign), {"name": "Unsigned", "channel": "email"})
    assert _campaigns(engine) == 0 and data_revision(engine) == before


def test_an_audited_data_change_moves_the_revision_by_one(engine):
    before = data_revision(engine)
    with unit_of_work(engine, "mia@yourco.example", "test") as work:
        campaign = work.conn.execute(insert(Campaign).returning(Campaign.id), {"name": "Fall", "channel": "email"})
        campaign_id = campaign.scalar_one()
        work.conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(budget=1000))
        work.record("create", "campaign", campaign_id, None, {"name": "Fall"})
    assert data_revision(engine) == before + 1 == work.revision
    with engine.connect() as conn:
        entry = conn.execute(select(AuditEntry.actor, AuditEntry.action)).one()
    assert tuple(entry) == ("mia@yourco.example", "create")


def test_an_audit_entry_alone_or_an_access_write_leaves_the_revision(engine):
    before = data_revision(engine)
    with unit_of_work(engine, "ria@yourco.example", "test") as work:
        work.record("funnel_config_edit", "config", None, {"a": 1}, {"a": 2})
    assert data_revision(engine) == before


def test_logging_in_and_out_leaves_the_data_revision_and_a_data_write_moves_it(engine):
    logins.add_user(engine, email="eva@yourco.example", team="sales", password="correct horse battery")
    before = data_revision(engine)
    secret, _, _ = logins.log_in(engine, "eva@yourco.example", "correct horse battery")
    token = logins.create_token(engine, email="eva@yourco.example")
    found = logins.token_lookup(engine, token)
    logins.touch_token(engine, found[1])
    logins.log_out(engine, secret)
    assert data_revision(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WebSession)).scalar_one() == 0
        assert conn.execute(select(AuditEntry.action).order_by(AuditEntry.id.desc())).first()[0] == "log_out"
    from truce.services.feedback import add_feedback

    add_feedback(engine, text="moved?", kind="other", author_email="eva@yourco.example")
    assert data_revision(engine) == before + 1


def test_an_exception_or_a_discard_writes_nothing(engine):
    before = data_revision(engine)
    with pytest.raises(RuntimeError, match="half-way"):
        with unit_of_work(engine, "test", "test") as work:
            work.conn.execute(insert(Campaign), {"name": "Half", "channel": "email"})
            work.record("create", "campaign")
            raise RuntimeError("half-way")
    with unit_of_work(engine, "test", "test") as work:
        work.conn.execute(insert(Campaign), {"name": "Dry", "channel": "email"})
        work.record("create", "campaign")
        work.discard()
    assert _campaigns(engine) == 0 and data_revision(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(FeedbackItem)).scalar_one() == 0


def test_a_unit_of_work_needs_an_actor(engine):
    with pytest.raises(ValueError, match="needs an actor"):
        with unit_of_work(engine, "", "test"):
            pass


# ---- every writer goes through it -----------------------------------------------------------------

# The one module that opens write transactions, and Alembic's, which migrates the schema.
OPENERS = {"store/work.py", "store/migrations/env.py"}


def _transactions_opened(path: Path) -> list[str]:
    """Calls in a module that open a transaction or a session by hand."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name in {"begin", "begin_nested", "transaction", "Session", "sessionmaker"}:
                found.append(f"{name}() on line {node.lineno}")
    return found


@pytest.mark.parametrize(
    "path", sorted(SOURCE.rglob("*.py")), ids=lambda p: str(p.relative_to(SOURCE))
)  # fmt: skip
def test_no_module_opens_a_transaction_but_the_unit_of_work(path):
    if str(path.relative_to(SOURCE)) in OPENERS:
        return
    assert _transactions_opened(path) == [], "write through truce.store.work.unit_of_work instead"
