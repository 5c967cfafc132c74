"""kpis: the guardrail record (what a graduation changed, so it can be seen and undone)"""

import sqlalchemy as sa
from alembic import op

revision = 'c3a9d5e1f2b4'
down_revision = '7e663ea8c60e'


def upgrade() -> None:
    with op.batch_alter_table('kpis', schema=None) as batch_op:
        batch_op.add_column(sa.Column('guardrail', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('kpis', schema=None) as batch_op:
        batch_op.drop_column('guardrail')
