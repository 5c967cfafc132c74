"""Settings of the alerts service (`LODESTAR_*` environment variables)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class AlertsSettings(ServiceSettings):
    service_name: str = "alerts"
    database_url: str = "sqlite+aiosqlite:///var/alerts.db"
    # The timer that moves pending alerts past `for`, repeats, expires silences, sees no data.
    evaluation_interval_s: float = 5.0
    # Where generatorURL points: the subject in the metrics (KPIs) and goals (KRs) APIs.
    metrics_url: str = "http://127.0.0.1:8002"
    goals_url: str = "http://127.0.0.1:8001"
    # The deadline of one whole post (resolve, connect, send, read the capped answer).
    webhook_timeout_s: float = 10.0
    # Posts at once to one URL (so a slow receiver holds only its own).
    webhook_lanes_per_url: int = 4
    # Allow webhook and Alertmanager URLs on loopback, private, link-local addresses (on-prem
    # receivers); refused by default (`services.alerts.egress`).
    webhook_allow_private: bool = False
    # Per-tenant quotas (409 past them).
    max_rules_per_tenant: int = 1000
    max_silences_per_tenant: int = 1000
    webhook_max_attempts: int = 8
    webhook_backoff_base_s: float = 2.0
    webhook_backoff_max_s: float = 600.0
    webhook_poll_interval_s: float = 1.0
    webhook_batch_max: int = 50
    # am: Prometheus Alertmanager(s) every tenant's alerts are posted to (a JSON list of base
    # URLs, each sent to, as Prometheus does); a tenant may name its own or opt out.
    alertmanager_urls: list[str] = []
    # Firing alerts are re-sent this often, well inside Alertmanager's resolve_timeout (5 m).
    alertmanager_resend_interval_s: float = 60.0
    alertmanager_timeout_s: float = 10.0
    # After a failed post, the next attempt (the whole current state) comes this much later.
    alertmanager_retry_s: float = 5.0
    # A resolution no Alertmanager confirmed is re-sent for this long, then given up.
    alertmanager_resolved_horizon_s: float = 3600.0
