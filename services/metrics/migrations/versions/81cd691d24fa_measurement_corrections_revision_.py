"""measurement corrections: revision, retracted, period index; rollup revision

A restated measurement raises its revision, a retracted one stays as a tombstone; a
correction recomputes its period from the points (the index); a rollup counts its
recomputations (`kpi.value` revision).
"""

import sqlalchemy as sa
from alembic import op

revision = '81cd691d24fa'
down_revision = 'c3a9d5e1f2b4'


def upgrade() -> None:
    with op.batch_alter_table('measurements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('retracted', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_measurements_period', ['tenant', 'kpi', 'period_start'], unique=False)

    with op.batch_alter_table('rollups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.BigInteger(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('rollups', schema=None) as batch_op:
        batch_op.drop_column('revision')

    with op.batch_alter_table('measurements', schema=None) as batch_op:
        batch_op.drop_index('ix_measurements_period')
        batch_op.drop_column('retracted')
        batch_op.drop_column('revision')
