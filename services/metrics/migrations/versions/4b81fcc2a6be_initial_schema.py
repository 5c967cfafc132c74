"""metrics: initial schema (KPIs, measurements, rollups; the shared tables' v1)"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.tables
from shared import migration_ops

revision = '4b81fcc2a6be'
down_revision = None


def upgrade() -> None:
    op.create_table('kpis',
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('what', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('why', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('how', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('cadence_s', sa.BigInteger(), nullable=True),
    sa.Column('aggregation', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('green', sa.Float(), nullable=True),
    sa.Column('amber', sa.Float(), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('created_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'key')
    )
    op.create_table('measurements',
    sa.Column('id', sa.LargeBinary(length=16), nullable=False),
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('observed_at', sa.BigInteger(), nullable=False),
    sa.Column('period_start', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('dimensions', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('rollups',
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('period_start', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('minimum', sa.Float(), nullable=False),
    sa.Column('maximum', sa.Float(), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=False),
    sa.Column('last_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'kpi', 'period_start')
    )
    migration_ops.infra_v1_upgrade()


def downgrade() -> None:
    migration_ops.infra_v1_downgrade()
    op.drop_table('rollups')
    op.drop_table('measurements')
    op.drop_table('kpis')
