"""discount approvals: requests to discount beyond policy and the pricing owner's answers

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-06 21:41:15
"""

import sqlalchemy as sa
from alembic import op

import truce.store.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OPEN = sa.text("state = 'requested'")


def upgrade() -> None:
    op.create_table(
        'discount_approvals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('opportunity_id', sa.Integer(), nullable=False),
        sa.Column('requested_discount', truce.store.types.Rate(precision=7, scale=4), nullable=False),
        sa.Column('policy_limit', truce.store.types.Rate(precision=7, scale=4), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('request_note', sa.Text(), nullable=True),
        sa.Column('requested_by_id', sa.Integer(), nullable=False),
        sa.Column('requested_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('due_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', truce.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('overdue_at', truce.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('requested', 'approved', 'refused', 'withdrawn')", name=op.f('ck_discount_approvals_state')
        ),
        sa.CheckConstraint(
            'requested_discount > 0 AND requested_discount < 1',
            name=op.f('ck_discount_approvals_requested_discount'),
        ),
        sa.ForeignKeyConstraint(
            ['decided_by_id'], ['users.id'], name=op.f('fk_discount_approvals_decided_by_id_users')
        ),
        sa.ForeignKeyConstraint(
            ['opportunity_id'], ['opportunities.id'], name=op.f('fk_discount_approvals_opportunity_id_opportunities')
        ),
        sa.ForeignKeyConstraint(
            ['requested_by_id'], ['users.id'], name=op.f('fk_discount_approvals_requested_by_id_users')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_discount_approvals')),
    )
    op.create_index('ix_discount_approvals_opportunity', 'discount_approvals', ['opportunity_id'])
    op.create_index('ix_discount_approvals_state_due', 'discount_approvals', ['state', 'due_at'])
    # One open request per deal, kept by the database even when two sellers ask at the same moment.
    op.create_index(
        'uq_discount_approvals_one_open',
        'discount_approvals',
        ['opportunity_id'],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index('uq_discount_approvals_one_open', table_name='discount_approvals')
    op.drop_index('ix_discount_approvals_state_due', table_name='discount_approvals')
    op.drop_index('ix_discount_approvals_opportunity', table_name='discount_approvals')
    op.drop_table('discount_approvals')
