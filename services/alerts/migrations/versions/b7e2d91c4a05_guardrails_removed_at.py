"""alerts: guardrails.removed_at, a removed guardrail kept as a tombstone"""

import sqlalchemy as sa
from alembic import op

import shared.tables

revision = 'b7e2d91c4a05'
down_revision = 'a3c1e0d2b7f4'


def upgrade() -> None:
    with op.batch_alter_table('guardrails', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('removed_at', shared.tables.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('guardrails', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
