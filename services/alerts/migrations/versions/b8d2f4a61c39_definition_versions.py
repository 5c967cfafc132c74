"""definition_versions: a tenant's rules/silences/settings version, for the evaluators' caches"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'b8d2f4a61c39'
down_revision = 'b7e2d91c4a05'


def upgrade() -> None:
    op.create_table(
        'definition_versions',
        sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('tenant'),
    )


def downgrade() -> None:
    op.drop_table('definition_versions')
