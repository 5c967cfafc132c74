"""alerts: recompute every fingerprint as Alertmanager's (FNV-1a 64 of the labels)

The fingerprint used to be the first 16 hex digits of a SHA-256 of the labels. Alerts, their
history and their webhook deliveries are keyed by it: each is rewritten from the alert's stored
labels, and a pending delivery's body names the new one.
"""

import hashlib
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = 'c41f5e0a9d21'
down_revision = '7f802985ce24'

_OFFSET64 = 14695981039346656037
_PRIME64 = 1099511628211


def _fingerprint(labels: dict[str, str]) -> str:
    # A copy of services.alerts.domain.labels.fingerprint as of this revision: a migration must
    # not change when the code it once called changes.
    h = _OFFSET64
    for name in sorted(labels):
        for byte in name.encode() + b"\xff" + labels[name].encode() + b"\xff":
            h = ((h ^ byte) * _PRIME64) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


_alerts = sa.table(
    'alerts', sa.column('tenant', sa.String), sa.column('fingerprint', sa.String),
    sa.column('labels', sa.JSON),
)
_history = sa.table(
    'alert_history', sa.column('tenant', sa.String), sa.column('fingerprint', sa.String)
)
_deliveries = sa.table(
    'webhook_deliveries', sa.column('id', sa.String), sa.column('tenant', sa.String),
    sa.column('fingerprint', sa.String), sa.column('status', sa.String),
    sa.column('body', sa.Text),
)


def _sha256_fingerprint(labels: dict[str, str]) -> str:
    # The fingerprint before this revision.
    canonical = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def upgrade() -> None:
    _rewrite(_fingerprint)


def downgrade() -> None:
    _rewrite(_sha256_fingerprint)


def _rewrite(fingerprint: Callable[[dict[str, str]], str]) -> None:
    bind = op.get_bind()
    for tenant, old, labels in bind.execute(
        sa.select(_alerts.c.tenant, _alerts.c.fingerprint, _alerts.c.labels)
    ).all():
        new = fingerprint(labels)
        if new == old:
            continue
        for table in (_alerts, _history, _deliveries):
            bind.execute(
                table.update()
                .where(table.c.tenant == tenant, table.c.fingerprint == old)
                .values(fingerprint=new)
            )
        pending = bind.execute(
            sa.select(_deliveries.c.id, _deliveries.c.body).where(
                _deliveries.c.tenant == tenant,
                _deliveries.c.fingerprint == new,
                _deliveries.c.status == 'pending',
            )
        ).all()
        for delivery_id, body in pending:
            bind.execute(
                _deliveries.update()
                .where(_deliveries.c.id == delivery_id)
                .values(body=body.replace(f'"fingerprint":"{old}"', f'"fingerprint":"{new}"'))
            )
