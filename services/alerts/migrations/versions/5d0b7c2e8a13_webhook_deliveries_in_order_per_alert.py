"""webhook_deliveries: seq (order within a batch) and an index by alert, to post each alert's
deliveries in order

Revision ID: 5d0b7c2e8a13
Revises: c41f5e0a9d21
Create Date: 2026-12-01 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5d0b7c2e8a13'
down_revision: str | None = 'c41f5e0a9d21'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=False, server_default='0'))
        batch_op.create_index(
            'ix_webhook_deliveries_alert', ['tenant', 'fingerprint', 'created_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_alert')
        batch_op.drop_column('seq')
