"""webhook_deliveries: seq and an index by alert, to post each alert's deliveries in order"""

import sqlalchemy as sa
from alembic import op

revision = '5d0b7c2e8a13'
down_revision = 'c41f5e0a9d21'


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
