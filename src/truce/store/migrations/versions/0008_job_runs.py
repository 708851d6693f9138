"""job runs: the scheduler claims, leases and records each slot

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:42:10
"""

import sqlalchemy as sa
from alembic import op

import truce.store.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('slot', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cause', sa.String(length=16), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('lease_until', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('started_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', truce.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('running', 'ok', 'failed')", name=op.f('ck_job_runs_status')),
    sa.CheckConstraint("cause IN ('schedule', 'manual')", name=op.f('ck_job_runs_cause')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs')),
    sa.UniqueConstraint('job', 'slot', name='uq_job_runs_job_slot')
    )
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index('ix_job_runs_job_status', ['job', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_job_status')
    op.drop_table('job_runs')
