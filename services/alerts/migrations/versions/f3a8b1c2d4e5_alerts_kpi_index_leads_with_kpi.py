"""alerts: ix_alerts_kpi leads with kpi, so that no index but the key starts with tenant

Before PostgreSQL has statistics for `alerts` (a new database; autovacuum analyzes a minute
or so after the first alerts), every index scan is estimated at one row, and an UPDATE by
key (tenant, fingerprint) tied with (tenant, kpi, state) and took it: a scan of the tenant's
alerts for each alert stepped. Led by kpi, that index serves only the lookups that name a
KPI, which all do.

Revision ID: f3a8b1c2d4e5
Revises: d5a9c3e1f720
Create Date: 2026-12-04 21:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'f3a8b1c2d4e5'
down_revision: str | None = 'd5a9c3e1f720'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_kpi')
        batch_op.create_index('ix_alerts_kpi', ['kpi', 'tenant', 'state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_kpi')
        batch_op.create_index('ix_alerts_kpi', ['tenant', 'kpi', 'state'], unique=False)
