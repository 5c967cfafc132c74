"""kpis: the guardrail record (what a graduation changed, so it can be seen and undone)

Revision ID: c3a9d5e1f2b4
Revises: 7e663ea8c60e
Create Date: 2026-12-01 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'c3a9d5e1f2b4'
down_revision: str | None = '7e663ea8c60e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('kpis', schema=None) as batch_op:
        batch_op.add_column(sa.Column('guardrail', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('kpis', schema=None) as batch_op:
        batch_op.drop_column('guardrail')
