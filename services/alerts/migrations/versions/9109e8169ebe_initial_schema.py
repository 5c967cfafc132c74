"""alerts: initial schema (rules, alerts, history, silences, webhooks; the shared tables' v1)"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.tables
from shared import migration_ops

revision = '9109e8169ebe'
down_revision = None


def upgrade() -> None:
    op.create_table('alert_history',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('alert_history', schema=None) as batch_op:
        batch_op.create_index('ix_alert_history_alert', ['tenant', 'fingerprint', 'seq'], unique=False)

    op.create_table('alert_rules',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('target_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('selector_tags', sa.JSON(), nullable=False),
    sa.Column('condition', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('operator', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('resolve_threshold', sa.Float(), nullable=True),
    sa.Column('health', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('window_seconds', sa.Float(), nullable=True),
    sa.Column('change', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('no_data_seconds', sa.Float(), nullable=True),
    sa.Column('for_seconds', sa.Float(), nullable=False),
    sa.Column('keep_firing_for_seconds', sa.Float(), nullable=False),
    sa.Column('repeat_interval_seconds', sa.Float(), nullable=False),
    sa.Column('severity', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('annotations', sa.JSON(), nullable=False),
    sa.Column('webhook_url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('webhook_secret', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.create_index('ix_alert_rules_target', ['tenant', 'target_kind', 'target'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_rules_tenant'), ['tenant'], unique=False)

    op.create_table('alerts',
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('subject_kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('active_since', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('started_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('clear_since', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('notified', sa.Boolean(), nullable=False),
    sa.Column('last_notified_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('annotations', sa.JSON(), nullable=False),
    sa.Column('samples', sa.JSON(), nullable=False),
    sa.Column('silenced_by', sa.JSON(), nullable=False),
    sa.Column('inhibited', sa.Boolean(), nullable=False),
    sa.Column('acked_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('acked_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('ack_note', sa.Text(), nullable=True),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'fingerprint')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_state'), ['state'], unique=False)

    op.create_table('guardrails',
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key_result_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('target', sa.Float(), nullable=False),
    sa.Column('bound_low', sa.Float(), nullable=True),
    sa.Column('bound_high', sa.Float(), nullable=True),
    sa.Column('periods_met', sa.Integer(), nullable=False),
    sa.Column('graduated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'kpi')
    )
    op.create_table('silences',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('matchers', sa.JSON(), nullable=False),
    sa.Column('starts_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_silences_tenant'), ['tenant'], unique=False)

    op.create_table('tenant_alert_settings',
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kpi_red', sa.Boolean(), nullable=False),
    sa.Column('kr_off_track', sa.Boolean(), nullable=False),
    sa.Column('guardrail_breached', sa.Boolean(), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant')
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('alert_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
    sa.Column('secret', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_rule', ['tenant', 'rule_id', 'created_at'], unique=False)

    migration_ops.infra_v1_upgrade()


def downgrade() -> None:
    migration_ops.infra_v1_downgrade()
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_rule')
        batch_op.drop_index('ix_webhook_deliveries_due')

    op.drop_table('webhook_deliveries')
    op.drop_table('tenant_alert_settings')
    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_silences_tenant'))

    op.drop_table('silences')
    op.drop_table('guardrails')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_state'))
        batch_op.drop_index(batch_op.f('ix_alerts_rule_id'))

    op.drop_table('alerts')
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_rules_tenant'))
        batch_op.drop_index('ix_alert_rules_target')

    op.drop_table('alert_rules')
    with op.batch_alter_table('alert_history', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_history_alert')

    op.drop_table('alert_history')
