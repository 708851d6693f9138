"""live connectors: CRM connections, sync cursors, runs, rejects, write-backs, webhook receipts;
records deleted or merged away in a CRM are marked, not removed

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:40:00
"""

import sqlalchemy as sa
from alembic import op

import truce.store.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

REMOVABLE = ('accounts', 'contacts', 'opportunities')


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, truce.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    for table in REMOVABLE:
        with op.batch_alter_table(table) as batch:
            batch.add_column(_when('deleted_at'))
            batch.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
    op.create_table(
        'crm_connections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('system', sa.String(length=16), nullable=False),
        sa.Column('auth', sa.String(length=32), nullable=False),
        sa.Column('base_url', sa.String(length=500), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('secret_env', sa.String(length=100), nullable=True),
        sa.Column('secret_sealed', sa.Text(), nullable=True),
        sa.Column('webhook_secret_env', sa.String(length=100), nullable=True),
        sa.Column('webhook_secret_sealed', sa.Text(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        _when('created_at', nullable=False),
        sa.Column('created_by', sa.String(length=254), nullable=False),
        _when('revoked_at'),
        _when('last_sync_at'),
        sa.Column('last_error', sa.Text(), nullable=True),
        _when('last_error_at'),
        sa.CheckConstraint("system IN ('hubspot', 'salesforce')", name=op.f('ck_crm_connections_system')),
        sa.CheckConstraint(
            "auth IN ('private_app_token', 'jwt_bearer', 'client_credentials')", name=op.f('ck_crm_connections_auth')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_connections')),
        sa.UniqueConstraint('name', name=op.f('uq_crm_connections_name')),
    )
    op.create_table(
        'crm_sync_cursors',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('cursor', sa.String(length=200), nullable=True),
        sa.Column('position', sa.String(length=500), nullable=True),
        sa.Column('records', sa.Integer(), nullable=False),
        _when('updated_at', nullable=False),
        sa.ForeignKeyConstraint(
            ['connection_id'], ['crm_connections.id'], name=op.f('fk_crm_sync_cursors_connection_id_crm_connections')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_sync_cursors')),
        sa.UniqueConstraint('connection_id', 'object', name=op.f('uq_crm_sync_cursors_connection_id_object')),
    )
    op.create_table(
        'crm_sync_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('full', sa.Boolean(), nullable=False),
        sa.Column('actor', sa.String(length=254), nullable=False),
        _when('started_at', nullable=False),
        _when('finished_at'),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=True),
        sa.Column('differences', sa.JSON(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'ok', 'failed', 'stopped')", name=op.f('ck_crm_sync_runs_status')
        ),
        sa.ForeignKeyConstraint(
            ['connection_id'], ['crm_connections.id'], name=op.f('fk_crm_sync_runs_connection_id_crm_connections')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_sync_runs')),
    )
    op.create_index('ix_crm_sync_runs_connection_id', 'crm_sync_runs', ['connection_id'])
    op.create_table(
        'crm_sync_rejects',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('crm_id', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        _when('seen_at', nullable=False),
        _when('resolved_at'),
        sa.ForeignKeyConstraint(
            ['connection_id'], ['crm_connections.id'], name=op.f('fk_crm_sync_rejects_connection_id_crm_connections')
        ),
        sa.ForeignKeyConstraint(['run_id'], ['crm_sync_runs.id'], name=op.f('fk_crm_sync_rejects_run_id_crm_sync_runs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_sync_rejects')),
    )
    op.create_index('ix_crm_sync_rejects_open', 'crm_sync_rejects', ['connection_id', 'object', 'resolved_at'])
    op.create_table(
        'crm_writes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('outbox_id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('object', sa.String(length=64), nullable=False),
        sa.Column('crm_id', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        _when('next_attempt_at', nullable=False),
        _when('claimed_until'),
        sa.Column('last_error', sa.Text(), nullable=True),
        _when('sent_at'),
        _when('created_at', nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'conflict', 'failed', 'dead', 'skipped')",
            name=op.f('ck_crm_writes_status'),
        ),
        sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_crm_writes_outbox_id_outbox')),
        sa.ForeignKeyConstraint(
            ['connection_id'], ['crm_connections.id'], name=op.f('fk_crm_writes_connection_id_crm_connections')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_writes')),
        sa.UniqueConstraint('outbox_id', name=op.f('uq_crm_writes_outbox_id')),
    )
    op.create_index('ix_crm_writes_due', 'crm_writes', ['status', 'next_attempt_at'])
    op.create_table(
        'webhook_receipts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('delivery_key', sa.String(length=200), nullable=False),
        _when('received_at', nullable=False),
        sa.ForeignKeyConstraint(
            ['connection_id'], ['crm_connections.id'], name=op.f('fk_webhook_receipts_connection_id_crm_connections')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_receipts')),
        sa.UniqueConstraint('delivery_key', name=op.f('uq_webhook_receipts_delivery_key')),
    )
    op.create_index('ix_webhook_receipts_received_at', 'webhook_receipts', ['received_at'])


def downgrade() -> None:
    for table in ('webhook_receipts', 'crm_writes', 'crm_sync_rejects', 'crm_sync_runs', 'crm_sync_cursors'):
        op.drop_table(table)
    op.drop_table('crm_connections')
    for table in REMOVABLE:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('merged_into_id')
            batch.drop_column('deleted_at')
