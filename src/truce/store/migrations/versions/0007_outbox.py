"""outbox: notifications owed, written with the change that caused them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:30:00
"""

import sqlalchemy as sa
from alembic import op

import truce.store.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _protect_outbox() -> None:
    """What was owed is evidence: the same append-only guard as the stage ledger (see 0001)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER outbox_append_only BEFORE UPDATE OR DELETE ON outbox "
            "FOR EACH ROW EXECUTE FUNCTION truce_refuse_change()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER outbox_no_{action.lower()} BEFORE {action} ON outbox "
            "BEGIN SELECT RAISE(ABORT, 'truce: outbox is append-only'); END"
        )


def _unprotect_outbox() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER outbox_append_only ON outbox")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER outbox_no_{action}")


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('urgency', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=True),
    sa.Column('facts', sa.JSON(), nullable=True),
    sa.Column('key', sa.String(length=200), nullable=True),
    sa.Column('created_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint("urgency IN ('now', 'digest')", name=op.f('ck_outbox_urgency')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outbox_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_user_id'), ['user_id'], unique=False)
    _protect_outbox()


def downgrade() -> None:
    _unprotect_outbox()
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_user_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_kind'))
        batch_op.drop_index(batch_op.f('ix_outbox_created_at'))

    op.drop_table('outbox')
