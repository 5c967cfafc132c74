"""alerts: ack_expires_at, for acknowledgements that lapse

Revision ID: a83e41f6b2c7
Revises: 5d0b7c2e8a13
Create Date: 2026-12-01 21:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.tables

revision: str = 'a83e41f6b2c7'
down_revision: str | None = '5d0b7c2e8a13'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('ack_expires_at', shared.tables.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index('ix_alerts_ack_expires_at', ['ack_expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_ack_expires_at')
        batch_op.drop_column('ack_expires_at')
