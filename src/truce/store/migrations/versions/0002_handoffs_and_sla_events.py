"""handoffs and sla events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:00:11.830998
"""

import sqlalchemy as sa
from alembic import op

import truce.store.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _protect_sla_events() -> None:
    """Breaches are evidence: the same append-only guard as the stage ledger (see 0001)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER sla_events_append_only BEFORE UPDATE OR DELETE ON sla_events "
            "FOR EACH ROW EXECUTE FUNCTION truce_refuse_change()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER sla_events_no_{action.lower()} BEFORE {action} ON sla_events "
            "BEGIN SELECT RAISE(ABORT, 'truce: sla_events is append-only'); END"
        )


def _unprotect_sla_events() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER sla_events_append_only ON sla_events")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER sla_events_no_{action}")


def upgrade() -> None:
    op.create_table('handoffs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('mql_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('routing_rule', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('first_touch_due_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_touch_at', truce.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_due_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', truce.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('rejection_reason', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sla_due_at', truce.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'accepted', 'rejected')", name=op.f('ck_handoffs_status')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_handoffs_contact_id_contacts')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_handoffs_decided_by_id_users')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_handoffs_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoffs'))
    )
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.create_index('ix_handoffs_contact', ['contact_id'], unique=False)
        batch_op.create_index('ix_handoffs_owner_created', ['owner_id', 'created_at'], unique=False)
        batch_op.create_index('ix_handoffs_sla_due_at', ['sla_due_at'], unique=False)
        batch_op.create_index('ix_handoffs_status', ['status'], unique=False)

    op.create_table('sla_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handoff_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('due_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('detected_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.CheckConstraint("kind IN ('first_touch_late', 'decision_late', 'too_few_attempts')", name=op.f('ck_sla_events_kind')),
    sa.CheckConstraint("side IN ('sales', 'marketing')", name=op.f('ck_sla_events_side')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_sla_events_contact_id_contacts')),
    sa.ForeignKeyConstraint(['handoff_id'], ['handoffs.id'], name=op.f('fk_sla_events_handoff_id_handoffs')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sla_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_events')),
    sa.UniqueConstraint('handoff_id', 'kind', name='uq_sla_events_handoff_kind')
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('score', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('scored_at', truce.store.types.UTCDateTime(timezone=True), nullable=True))
    _protect_sla_events()


def downgrade() -> None:
    _unprotect_sla_events()
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('scored_at')
        batch_op.drop_column('score')

    op.drop_table('sla_events')
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_index('ix_handoffs_status')
        batch_op.drop_index('ix_handoffs_sla_due_at')
        batch_op.drop_index('ix_handoffs_owner_created')
        batch_op.drop_index('ix_handoffs_contact')

    op.drop_table('handoffs')
