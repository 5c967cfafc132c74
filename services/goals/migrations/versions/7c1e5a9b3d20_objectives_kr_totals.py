"""objectives: kr_totals, the exact sums an objective's own numbers are made of

A batch of KPI values moves them by the KRs it touched instead of reading every KR of the
objective. Rows from before carry NULL: the next re-evaluation of their cycle counts them.
"""

import sqlalchemy as sa
from alembic import op

revision = '7c1e5a9b3d20'
down_revision = '4014d9323e8c'


def upgrade() -> None:
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kr_totals', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.drop_column('kr_totals')
