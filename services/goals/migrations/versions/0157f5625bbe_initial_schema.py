"""goals: initial schema (cycles, objectives, KRs, check-ins, teams; the shared tables' v1)"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.tables
from shared import migration_ops

revision = '0157f5625bbe'
down_revision = None


def upgrade() -> None:
    op.create_table('check_ins',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key_result_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('done', sa.Boolean(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('raw_progress', sa.Float(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.create_index('ix_check_ins_tenant_kr_time', ['tenant', 'key_result_id', 'at'], unique=False)

    op.create_table('cycles',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('starts_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'name', name='uq_cycles_tenant_name')
    )
    with op.batch_alter_table('cycles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cycles_tenant'), ['tenant'], unique=False)

    op.create_table('initiatives',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key_result_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('due_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('initiatives', schema=None) as batch_op:
        batch_op.create_index('ix_initiatives_tenant_kr', ['tenant', 'key_result_id'], unique=False)

    op.create_table('key_results',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('objective_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('cycle_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('start', sa.Float(), nullable=True),
    sa.Column('target', sa.Float(), nullable=True),
    sa.Column('bound_low', sa.Float(), nullable=True),
    sa.Column('bound_high', sa.Float(), nullable=True),
    sa.Column('current', sa.Float(), nullable=True),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('starts_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('due_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('kpi_aggregation', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('kpi_period', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('kpi_cadence_s', sa.Integer(), nullable=True),
    sa.Column('kpi_last_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('periods_met', sa.Integer(), nullable=True),
    sa.Column('periods_elapsed', sa.Integer(), nullable=True),
    sa.Column('graduation_periods', sa.Integer(), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('graduated_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('promoted_from_kpi', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('promoted_at', shared.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('promoted_start', sa.Float(), nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('raw_progress', sa.Float(), nullable=False),
    sa.Column('expected', sa.Float(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('score_note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('score_overridden', sa.Boolean(), nullable=False),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.create_index('ix_key_results_tenant_kpi', ['tenant', 'kpi'], unique=False)
        batch_op.create_index('ix_key_results_tenant_objective', ['tenant', 'objective_id'], unique=False)

    op.create_table('kr_kpi_periods',
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key_result_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('period_start', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('period_end', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=False),
    sa.Column('last_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_result_id', 'period_start')
    )
    op.create_table('objectives',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('cycle_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('owner_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('team_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('parent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('commitment', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('rollup_progress', sa.Float(), nullable=False),
    sa.Column('rollup_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('score_note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('score_overridden', sa.Boolean(), nullable=False),
    sa.Column('carried_from_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('carried_to_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.create_index('ix_objectives_tenant_cycle', ['tenant', 'cycle_id'], unique=False)
        batch_op.create_index('ix_objectives_tenant_parent', ['tenant', 'parent_id'], unique=False)

    op.create_table('team_members',
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('team_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('person', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('added_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('team_id', 'person')
    )
    op.create_table('teams',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('parent_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'name', name='uq_teams_tenant_name')
    )
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teams_tenant'), ['tenant'], unique=False)

    migration_ops.infra_v1_upgrade()


def downgrade() -> None:
    migration_ops.infra_v1_downgrade()
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teams_tenant'))

    op.drop_table('teams')
    op.drop_table('team_members')
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.drop_index('ix_objectives_tenant_parent')
        batch_op.drop_index('ix_objectives_tenant_cycle')

    op.drop_table('objectives')
    op.drop_table('kr_kpi_periods')
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.drop_index('ix_key_results_tenant_objective')
        batch_op.drop_index('ix_key_results_tenant_kpi')

    op.drop_table('key_results')
    with op.batch_alter_table('initiatives', schema=None) as batch_op:
        batch_op.drop_index('ix_initiatives_tenant_kr')

    op.drop_table('initiatives')
    with op.batch_alter_table('cycles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cycles_tenant'))

    op.drop_table('cycles')
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_index('ix_check_ins_tenant_kr_time')

    op.drop_table('check_ins')
