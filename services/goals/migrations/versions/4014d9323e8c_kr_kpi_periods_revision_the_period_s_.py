"""kr_kpi_periods: revision, the period's corrections

A KR keeps the newer aggregate of a KPI period by (revision, count, last_at): a correction in
metrics raises the period's `kpi.value` revision and may lower its count. Rows stored before
carry revision 0, as every `kpi.value` did before corrections.
"""

import sqlalchemy as sa
from alembic import op

revision = '4014d9323e8c'
down_revision = '2bb214fd629a'


def upgrade() -> None:
    with op.batch_alter_table('kr_kpi_periods', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.BigInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('kr_kpi_periods', schema=None) as batch_op:
        batch_op.drop_column('revision')
