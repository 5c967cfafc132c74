"""alerts: kpi (the alert's `kpi` label) and due_at (when the clock can next move it), indexed

Revision ID: d5a9c3e1f720
Revises: b8d2f4a61c39
Create Date: 2026-12-02 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import shared.tables

revision: str = 'd5a9c3e1f720'
down_revision: str | None = 'b8d2f4a61c39'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'kpi',
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default='',
            )
        )
        batch_op.add_column(
            sa.Column('due_at', shared.tables.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index('ix_alerts_kpi', ['tenant', 'kpi', 'state'], unique=False)
        batch_op.create_index('ix_alerts_due_at', ['due_at'], unique=False)
    label = (
        "json_extract(labels, '$.kpi')"
        if op.get_bind().dialect.name == 'sqlite'
        else "(labels ->> 'kpi')"
    )
    op.execute(f"UPDATE alerts SET kpi = COALESCE({label}, '')")
    # What the clock could move before (active alerts, those of rules that watch for no data)
    # is due at once: the first tick works out when each is due next.
    op.execute(
        "UPDATE alerts SET due_at = updated_at WHERE state IN ('pending', 'firing', 'no_data') "
        "OR rule_id IN (SELECT id FROM alert_rules WHERE no_data_seconds IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_due_at')
        batch_op.drop_index('ix_alerts_kpi')
        batch_op.drop_column('due_at')
        batch_op.drop_column('kpi')
