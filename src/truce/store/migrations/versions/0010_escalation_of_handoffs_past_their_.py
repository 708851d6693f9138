"""escalation of handoffs past their decision deadline

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-06 21:42:24.558897

A handoff learns how far escalation went with it (`escalation`), when its next step is due
(`escalation_due_at`, indexed for the scan) and, once re-routed, which handoff it replaced.
A handoff may now be `expired` and a breach may be `decision_expired`. Leads already waiting
get their first escalation moment: the decision deadline, so the first scan escalates them.
"""

import sqlalchemy as sa
from alembic import op

import truce.store.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

STATUSES_BEFORE = "status IN ('open', 'accepted', 'rejected')"
STATUSES_AFTER = "status IN ('open', 'accepted', 'rejected', 'expired')"
KINDS_BEFORE = "kind IN ('first_touch_late', 'decision_late', 'too_few_attempts')"
KINDS_AFTER = "kind IN ('first_touch_late', 'decision_late', 'too_few_attempts', 'decision_expired')"
ESCALATION = "escalation IS NULL OR (escalation IN ('leader_told', 'rerouted', 'nurtured'))"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _sla_events_triggers(create: bool) -> None:
    """SQLite rebuilds sla_events to change its check, which drops its append-only triggers (see 0002)."""
    if not _sqlite():
        return
    for action in ("UPDATE", "DELETE"):
        name = f"sla_events_no_{action.lower()}"
        if create:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {action} ON sla_events "
                "BEGIN SELECT RAISE(ABORT, 'truce: sla_events is append-only'); END"
            )
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


def _sla_event_kinds(old: str, new: str) -> None:
    _sla_events_triggers(create=False)
    with op.batch_alter_table('sla_events', schema=None, recreate="auto") as batch_op:
        batch_op.drop_constraint(op.f('ck_sla_events_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_sla_events_kind'), new)
    _sla_events_triggers(create=True)


def upgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_due_at', truce.store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalation', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('previous_handoff_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_handoffs_escalation_due_at', ['escalation_due_at'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_handoffs_previous_handoff_id_handoffs'), 'handoffs', ['previous_handoff_id'], ['id']
        )
        batch_op.drop_constraint(op.f('ck_handoffs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_handoffs_status'), STATUSES_AFTER)
        batch_op.create_check_constraint(op.f('ck_handoffs_escalation'), ESCALATION)
    _sla_event_kinds(KINDS_BEFORE, KINDS_AFTER)
    # Leads waiting today are judged by the first escalation scan, from their decision deadline.
    op.execute("UPDATE handoffs SET escalation_due_at = decision_due_at WHERE status = 'open'")


def downgrade() -> None:
    _sla_event_kinds(KINDS_AFTER, KINDS_BEFORE)
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_handoffs_escalation'), type_='check')
        batch_op.drop_constraint(op.f('ck_handoffs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_handoffs_status'), STATUSES_BEFORE)
        batch_op.drop_constraint(batch_op.f('fk_handoffs_previous_handoff_id_handoffs'), type_='foreignkey')
        batch_op.drop_index('ix_handoffs_escalation_due_at')
        batch_op.drop_column('previous_handoff_id')
        batch_op.drop_column('escalation')
        batch_op.drop_column('escalation_due_at')
