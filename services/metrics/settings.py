"""Settings of the metrics service (`LODESTAR_*` environment variables)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    service_name: str = "metrics"
    ingest_require_proof: bool = Field(
        default=True,
        description="Dead-letter every record of `kpi.measurements` without a valid tenant "
        "proof (a `lodestar-signature` header made with a write key of the envelope's tenant, "
        "`shared.ingest_proof`). Off only where every producer is trusted for every tenant",
    )
    database_url: str = "sqlite+aiosqlite:///var/metrics.db"
    # Per-tenant quota (409 past it).
    max_kpis_per_tenant: int = 1000
    consumer_batch_max: int = Field(
        default=5000,
        description=(
            "Most records per ingest batch (one transaction). A batch is what is buffered when"
            " the last one is stored, so batches are small at low rates and grow only under"
            " load; 5,000 halves the per-event cost of the commit, the rollup merge and the"
            " kpi.values events against 2,000"
        ),
    )
