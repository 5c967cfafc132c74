"""kpi_latest_periods: each KPI's newest period, so values of older periods move no alert

Revision ID: e6b19d4c7f08
Revises: a83e41f6b2c7
Create Date: 2026-12-01 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.tables

revision: str = 'e6b19d4c7f08'
down_revision: str | None = 'a83e41f6b2c7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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
