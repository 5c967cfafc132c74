"""alertmanager: per-tenant targets, resolutions each Alertmanager has accepted"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.tables

revision = 'a3c1e0d2b7f4'
down_revision = 'e6b19d4c7f08'


def upgrade() -> None:
    op.create_table('alertmanager_targets',
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('urls', sa.JSON(), nullable=False),
    sa.Column('updated_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant')
    )
    op.create_table('alertmanager_resolutions',
    sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('ended_at', shared.tables.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'fingerprint', 'url')
    )


def downgrade() -> None:
    op.drop_table('alertmanager_resolutions')
    op.drop_table('alertmanager_targets')
