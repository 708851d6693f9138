"""deliveries, notify channels and notification preferences

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06 21:40:58
"""

import sqlalchemy as sa
from alembic import op

import truce.store.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notify_channels',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('broken_since', truce.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('broken_until', truce.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_notify_channels'))
    )
    op.create_table('notification_preferences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('channels', sa.String(length=100), nullable=False),
    sa.Column('updated_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_preferences')),
    sa.UniqueConstraint('user_id', 'kind', name=op.f('uq_notification_preferences_user_id_kind'))
    )
    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=100), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('digest', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('claimed_until', truce.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', truce.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('read_at', truce.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('inbox', 'email', 'webhook', 'none')", name=op.f('ck_deliveries_channel')),
    sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'skipped')", name=op.f('ck_deliveries_status')),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_deliveries_outbox_id_outbox')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_deliveries_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('outbox_id', 'channel', 'target', name=op.f('uq_deliveries_outbox_id_channel_target'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_deliveries_inbox', ['user_id', 'channel', 'read_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_inbox')
        batch_op.drop_index('ix_deliveries_due')

    op.drop_table('deliveries')
    op.drop_table('notification_preferences')
    op.drop_table('notify_channels')
