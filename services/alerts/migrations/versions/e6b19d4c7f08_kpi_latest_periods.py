"""kpi_latest_periods: each KPI's newest period, so values of older periods move no alert"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.tables

revision = 'e6b19d4c7f08'
down_revision = 'a83e41f6b2c7'


def upgrade() -> None:
    op.create_table(
        'kpi_latest_periods',
        sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('kpi', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('period_start', shared.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column('period_end', shared.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tenant', 'kpi'),
    )


def downgrade() -> None:
    op.drop_table('kpi_latest_periods')
