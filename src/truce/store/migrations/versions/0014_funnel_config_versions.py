"""funnel config versions: each saved [funnel] and [sla], append-only; the newest is in force

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:00:00
"""

import sqlalchemy as sa
from alembic import op

import truce.store.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'funnel_config_versions',
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('sections', sa.JSON(), nullable=False),
        sa.Column('toml_text', sa.Text(), nullable=False),
        sa.Column('saved_by', sa.String(length=254), nullable=False),
        sa.Column('saved_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_funnel_config_versions')),
    )


def downgrade() -> None:
    op.drop_table('funnel_config_versions')
