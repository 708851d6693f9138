"""store revision: one number that moves with every change of data

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 18:40:00
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

import truce.store.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table('store_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('changed_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_store_revision_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_revision'))
    )
    # Data that was here before has a revision too: the first one.
    op.bulk_insert(table, [{'id': 1, 'revision': 1, 'changed_at': dt.datetime.now(dt.UTC)}])


def downgrade() -> None:
    op.drop_table('store_revision')
