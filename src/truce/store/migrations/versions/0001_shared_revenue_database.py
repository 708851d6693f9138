"""the shared revenue database

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:21:54.998924
"""

import sqlalchemy as sa
from alembic import op

import truce.store.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


APPEND_ONLY = ("stage_changes", "audit_log")


def _protect_append_only() -> None:
    """History is evidence: refuse UPDATE and DELETE on the ledger and the audit trail."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION truce_refuse_change() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'truce: % is append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION truce_refuse_change()"
            )
        return
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'truce: {table} is append-only'); END"
            )


def _unprotect_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION truce_refuse_change()")
        return
    for table in APPEND_ONLY:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER {table}_no_{action}")


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_entity', ['entity_type', 'entity_id'], unique=False)

    op.create_table('import_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_table', sa.String(length=32), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('dialect', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('started_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('inserted', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_runs'))
    )
    op.create_table('targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=16), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('team', sa.String(length=16), nullable=True),
    sa.Column('amount', truce.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('created_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("metric IN ('revenue', 'pipeline', 'mqls')", name=op.f('ck_targets_metric')),
    sa.CheckConstraint("team IS NULL OR (team IN ('marketing', 'sales', 'revops'))", name=op.f('ck_targets_team')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_targets'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('team', sa.String(length=16), nullable=False),
    sa.Column('marketing_focus', sa.String(length=16), nullable=True),
    sa.Column('is_leader', sa.Boolean(), nullable=False),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('segment', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("marketing_focus IS NULL OR (marketing_focus IN ('upstream', 'downstream'))", name=op.f('ck_users_marketing_focus')),
    sa.CheckConstraint("team IN ('marketing', 'sales', 'revops')", name=op.f('ck_users_team')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email')),
    sa.UniqueConstraint('external_id', name=op.f('uq_users_external_id'))
    )
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=True),
    sa.Column('industry', sa.String(length=100), nullable=True),
    sa.Column('employees', sa.Integer(), nullable=True),
    sa.Column('region', sa.String(length=64), nullable=True),
    sa.Column('segment', sa.String(length=64), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('is_key_account', sa.Boolean(), nullable=False),
    sa.Column('created_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('salesforce_id', sa.String(length=32), nullable=True),
    sa.Column('hubspot_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_accounts_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('domain', name=op.f('uq_accounts_domain')),
    sa.UniqueConstraint('external_id', name=op.f('uq_accounts_external_id')),
    sa.UniqueConstraint('hubspot_id', name=op.f('uq_accounts_hubspot_id')),
    sa.UniqueConstraint('salesforce_id', name=op.f('uq_accounts_salesforce_id'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_name'), ['name'], unique=False)

    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('salesforce_id', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('owning_team', sa.String(length=16), nullable=False),
    sa.Column('budget', truce.store.types.Money(precision=18, scale=2), nullable=True),
    sa.Column('actual_cost', truce.store.types.Money(precision=18, scale=2), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("owning_team IN ('marketing', 'sales', 'revops')", name=op.f('ck_campaigns_owning_team')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_campaigns_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('external_id', name=op.f('uq_campaigns_external_id')),
    sa.UniqueConstraint('salesforce_id', name=op.f('uq_campaigns_salesforce_id'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_channel'), ['channel'], unique=False)

    op.create_table('stage_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('entity_type', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('from_stage', sa.String(length=64), nullable=True),
    sa.Column('to_stage', sa.String(length=64), nullable=False),
    sa.Column('changed_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.Column('team_before', sa.String(length=16), nullable=True),
    sa.Column('team_after', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('recorded_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("entity_type IN ('contact', 'opportunity')", name=op.f('ck_stage_changes_entity_type')),
    sa.ForeignKeyConstraint(['changed_by_id'], ['users.id'], name=op.f('fk_stage_changes_changed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_changes')),
    sa.UniqueConstraint('external_id', name=op.f('uq_stage_changes_external_id'))
    )
    with op.batch_alter_table('stage_changes', schema=None) as batch_op:
        batch_op.create_index('ix_stage_changes_entity', ['entity_type', 'entity_id', 'changed_at'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=True),
    sa.Column('last_name', sa.String(length=100), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=50), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('source_channel', sa.String(length=64), nullable=True),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('lead_status', sa.String(length=64), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('created_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('salesforce_id', sa.String(length=32), nullable=True),
    sa.Column('hubspot_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_contacts_account_id_accounts')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_contacts_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('email', name=op.f('uq_contacts_email')),
    sa.UniqueConstraint('external_id', name=op.f('uq_contacts_external_id')),
    sa.UniqueConstraint('hubspot_id', name=op.f('uq_contacts_hubspot_id')),
    sa.UniqueConstraint('salesforce_id', name=op.f('uq_contacts_salesforce_id'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_account', ['account_id'], unique=False)
        batch_op.create_index('ix_contacts_stage', ['stage'], unique=False)

    op.create_table('opportunities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('primary_contact_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('amount', truce.store.types.Money(precision=18, scale=2), nullable=False),
    sa.Column('list_amount', truce.store.types.Money(precision=18, scale=2), nullable=True),
    sa.Column('discount_rate', truce.store.types.Rate(precision=7, scale=4), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('close_date', sa.Date(), nullable=True),
    sa.Column('loss_reason', sa.String(length=100), nullable=True),
    sa.Column('competitor', sa.String(length=100), nullable=True),
    sa.Column('product', sa.String(length=100), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('salesforce_id', sa.String(length=32), nullable=True),
    sa.Column('hubspot_id', sa.String(length=32), nullable=True),
    sa.CheckConstraint("status IN ('open', 'won', 'lost')", name=op.f('ck_opportunities_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_opportunities_account_id_accounts')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_opportunities_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_opportunities_owner_id_users')),
    sa.ForeignKeyConstraint(['primary_contact_id'], ['contacts.id'], name=op.f('fk_opportunities_primary_contact_id_contacts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunities')),
    sa.UniqueConstraint('external_id', name=op.f('uq_opportunities_external_id')),
    sa.UniqueConstraint('hubspot_id', name=op.f('uq_opportunities_hubspot_id')),
    sa.UniqueConstraint('salesforce_id', name=op.f('uq_opportunities_salesforce_id'))
    )
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.create_index('ix_opportunities_account', ['account_id'], unique=False)

    op.create_table('touchpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('touch_type', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('marketing', 'sales')", name=op.f('ck_touchpoints_kind')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_touchpoints_account_id_accounts')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_touchpoints_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_touchpoints_contact_id_contacts')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_touchpoints_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_touchpoints')),
    sa.UniqueConstraint('external_id', name=op.f('uq_touchpoints_external_id'))
    )
    with op.batch_alter_table('touchpoints', schema=None) as batch_op:
        batch_op.create_index('ix_touchpoints_contact_at', ['contact_id', 'occurred_at'], unique=False)

    op.create_table('feedback_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('opportunity_id', sa.Integer(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('replied_by_id', sa.Integer(), nullable=True),
    sa.Column('replied_at', truce.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', truce.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('product_gap', 'competitor', 'pricing', 'lead_quality', 'messaging', 'content_request', 'other')", name=op.f('ck_feedback_items_kind')),
    sa.CheckConstraint("status IN ('new', 'acknowledged', 'acted_on')", name=op.f('ck_feedback_items_status')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_feedback_items_author_id_users')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_feedback_items_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_feedback_items_contact_id_contacts')),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], name=op.f('fk_feedback_items_opportunity_id_opportunities')),
    sa.ForeignKeyConstraint(['replied_by_id'], ['users.id'], name=op.f('fk_feedback_items_replied_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_items'))
    )
    _protect_append_only()


def downgrade() -> None:
    _unprotect_append_only()
    op.drop_table('feedback_items')
    with op.batch_alter_table('touchpoints', schema=None) as batch_op:
        batch_op.drop_index('ix_touchpoints_contact_at')

    op.drop_table('touchpoints')
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_index('ix_opportunities_account')

    op.drop_table('opportunities')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_stage')
        batch_op.drop_index('ix_contacts_account')

    op.drop_table('contacts')
    with op.batch_alter_table('stage_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_changes_entity')

    op.drop_table('stage_changes')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_channel'))

    op.drop_table('campaigns')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_name'))

    op.drop_table('accounts')
    op.drop_table('users')
    op.drop_table('targets')
    op.drop_table('import_runs')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_entity')

    op.drop_table('audit_log')
