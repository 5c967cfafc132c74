"""definition_versions: a tenant's rules/silences/settings version, for the evaluators' caches

Revision ID: b8d2f4a61c39
Revises: b7e2d91c4a05
Create Date: 2026-12-02 00:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'b8d2f4a61c39'
down_revision: str | None = 'b7e2d91c4a05'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'definition_versions',
        sa.Column('tenant', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('tenant'),
    )


def downgrade() -> None:
    op.drop_table('definition_versions')
