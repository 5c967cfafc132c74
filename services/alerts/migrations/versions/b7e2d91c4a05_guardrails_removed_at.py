"""alerts: guardrails.removed_at, a removed guardrail kept as a tombstone

Revision ID: b7e2d91c4a05
Revises: a3c1e0d2b7f4
Create Date: 2026-12-02 00:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.tables

revision: str = 'b7e2d91c4a05'
down_revision: str | None = 'a3c1e0d2b7f4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('guardrails', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('removed_at', shared.tables.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('guardrails', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
