"""alerts: ack_expires_at, for acknowledgements that lapse"""

import sqlalchemy as sa
from alembic import op

import shared.tables

revision = 'a83e41f6b2c7'
down_revision = '5d0b7c2e8a13'


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
