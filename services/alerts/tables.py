"""The alerts service's tables: rules, alerts by fingerprint and their history, silences,
per-tenant settings, guardrails (KPIs whose key result graduated), each KPI's newest period,
and webhook deliveries (an outbox for webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.tables import SeqType, UtcDateTime, infra_metadata


class AlertsTable(SQLModel, registry=registry()):
    """Base of this service's tables: its own metadata, apart from the other services'."""


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class AlertRule(AlertsTable, table=True):
    """A rule: a target (one KPI, KR or objective, or KPIs by tag), a condition, its timing."""

    __tablename__ = "alert_rules"
    __table_args__ = (Index("ix_alert_rules_target", "tenant", "target_kind", "target"),)

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(index=True, max_length=64)
    name: str = Field(max_length=200)
    enabled: bool = True
    target_kind: str = Field(max_length=16)  # kpi | key_result | objective | selector
    target: str = Field(default="", max_length=64)
    selector_tags: list[str] = _json(list)
    condition: str = Field(max_length=16)
    operator: str = Field(default="above", max_length=8)
    threshold: float | None = None
    resolve_threshold: float | None = None
    health: str | None = Field(default=None, max_length=8)
    status: str | None = Field(default=None, max_length=16)
    window_seconds: float | None = None
    change: str = Field(default="absolute", max_length=8)
    no_data_seconds: float | None = None
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    repeat_interval_seconds: float = 4 * 3600.0
    severity: str = Field(max_length=16)
    labels: dict[str, str] = _json(dict)
    annotations: dict[str, str] = _json(dict)
    webhook_url: str | None = Field(default=None, max_length=2048)
    webhook_secret: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class Alert(AlertsTable, table=True):
    """One alert, identified by the fingerprint of its labels, in its current state.

    `kpi` is its `kpi` label ("" without one), by which the alerts of one KPI are found: the
    firing ones that inhibit, the inhibited ones to look at again when those change. `due_at`
    is when the clock can next move it (`domain.evaluation.next_tick`; None: only an
    observation can), so that a tick loads the alerts due, not every active one."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_kpi", "kpi", "tenant", "state"),)

    tenant: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(primary_key=True, max_length=32)
    rule_id: str = Field(index=True, max_length=64)
    subject_kind: str = Field(max_length=16)  # kpi | key_result | objective
    subject: str = Field(max_length=64)
    state: str = Field(max_length=16, index=True)
    value: float | None = None
    active_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    clear_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_seen_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    notified: bool = False
    last_notified_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    labels: dict[str, str] = _json(dict)
    annotations: dict[str, str] = _json(dict)
    samples: list[list[Any]] = _json(list)  # [[iso time, value], ...] for `change` rules
    silenced_by: list[str] = _json(list)
    inhibited: bool = False
    acked_by: str | None = Field(default=None, max_length=200)
    acked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    ack_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    ack_expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)
    kpi: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    due_at: datetime | None = Field(default=None, sa_type=UtcDateTime, index=True)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class AlertHistory(AlertsTable, table=True):
    """Every transition of an alert, and every mark put on it (ack, notification)."""

    __tablename__ = "alert_history"
    __table_args__ = (Index("ix_alert_history_alert", "tenant", "fingerprint", "seq"),)

    seq: int | None = Field(
        default=None, sa_column=Column(SeqType, primary_key=True, autoincrement=True)
    )
    tenant: str = Field(max_length=64)
    fingerprint: str = Field(max_length=32)
    kind: str = Field(max_length=16)  # transition | notified | acknowledged | unacknowledged
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str | None = Field(default=None, max_length=16)
    value: float | None = None
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = Field(sa_type=UtcDateTime)


class Silence(AlertsTable, table=True):
    __tablename__ = "silences"

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(index=True, max_length=64)
    matchers: list[dict[str, str]] = _json(list)
    starts_at: datetime = Field(sa_type=UtcDateTime)
    ends_at: datetime = Field(sa_type=UtcDateTime)
    created_by: str = Field(max_length=200)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class TenantSettings(AlertsTable, table=True):
    """The built-in rules a tenant has on (a missing row: all on)."""

    __tablename__ = "tenant_alert_settings"

    tenant: str = Field(primary_key=True, max_length=64)
    kpi_red: bool = True
    kr_off_track: bool = True
    guardrail_breached: bool = True
    updated_at: datetime = Field(sa_type=UtcDateTime)


class Guardrail(AlertsTable, table=True):
    """A KPI whose linked key result graduated: its health band now holds the KR's target, and
    its health leaving green fires `KpiGuardrailBreached`. One per KPI: a later graduation of
    another KR on the same KPI replaces it. A removed guardrail (metrics'
    `lodestar.kpi.guardrail.removed.v1`) keeps its row with `removed_at`, a tombstone: it is
    no guardrail (not listed, fires nothing), and a graduation from before the removal
    delivered later does not revive it; a later graduation does."""

    __tablename__ = "guardrails"

    tenant: str = Field(primary_key=True, max_length=64)
    kpi: str = Field(primary_key=True, max_length=64)
    key_result_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    target: float
    bound_low: float | None = None
    bound_high: float | None = None
    periods_met: int
    graduated_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class KpiLatestPeriod(AlertsTable, table=True):
    """The newest period each KPI has had a value for: a value of an older one is history,
    and moves no alert."""

    __tablename__ = "kpi_latest_periods"

    tenant: str = Field(primary_key=True, max_length=64)
    kpi: str = Field(primary_key=True, max_length=64)
    period_start: datetime = Field(sa_type=UtcDateTime)
    period_end: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class WebhookDelivery(AlertsTable, table=True):
    """One webhook post to make, written in the transaction of the transition it announces."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_rule", "tenant", "rule_id", "created_at"),
        Index("ix_webhook_deliveries_alert", "tenant", "fingerprint", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    rule_id: str = Field(max_length=64)
    fingerprint: str = Field(max_length=32)
    alert_status: str = Field(max_length=16)  # firing | resolved | (un)acknowledged
    url: str = Field(max_length=2048)
    secret: str = Field(max_length=256)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=16)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UtcDateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_type=UtcDateTime)
    # Its place among the deliveries written at the same `created_at` (one batch): with it,
    # (created_at, seq) orders an alert's deliveries, and they are posted in that order.
    seq: int = 0
    updated_at: datetime = Field(sa_type=UtcDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


metadata = [AlertsTable.metadata, infra_metadata]


class AlertmanagerTarget(AlertsTable, table=True):
    """Where a tenant's alerts are posted: the deployment's Alertmanagers (`default`, also a
    missing row), its own `urls` (`own`), or none (`off`)."""

    __tablename__ = "alertmanager_targets"

    tenant: str = Field(primary_key=True, max_length=64)
    mode: str = Field(max_length=8)  # default | own | off
    urls: list[str] = _json(list)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class AlertmanagerResolution(AlertsTable, table=True):
    """A resolution an Alertmanager at `url` has accepted: the alert's `ended_at` it took.
    A resolved alert without a row for its current `ended_at` is still to be sent there."""

    __tablename__ = "alertmanager_resolutions"

    tenant: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(primary_key=True, max_length=32)
    url: str = Field(primary_key=True, max_length=512)
    ended_at: datetime = Field(sa_type=UtcDateTime)


class DefinitionVersion(AlertsTable, table=True):
    """A tenant's definitions version: bumped in the transaction of every write that changes
    its rules, silences or settings, so a replica's cache of them (`service.definitions`)
    sees that it moved with one query a batch and reloads that tenant only."""

    __tablename__ = "definition_versions"

    tenant: str = Field(primary_key=True, max_length=64)
    version: int
