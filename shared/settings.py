"""Settings every service shares, read from `LODESTAR_*` environment variables.

Each service subclasses `ServiceSettings` to add its own fields and default database file;
tests build settings objects directly instead of patching the environment.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.bounds import DEFAULT_MAX_FUTURE_SKEW_S
from shared.consumer import FETCH_MAX_BYTES
from shared.kafka_auth import KafkaAuth, SaslMechanism, SecurityProtocol


class Topics(BaseModel):
    """Kafka topic names; `prefix` lets several deployments (or tests) share one broker."""

    prefix: str = ""
    measurements: str = "kpi.measurements"
    measurements_dlq: str = "kpi.measurements.dlq"
    kpi_values: str = "kpi.values"
    okr_events: str = "okr.events"
    alerts: str = "alerts"
    tenants: str = "tenants"
    dlq_suffix: str = ".dlq"

    def name(self, topic: str) -> str:
        """The full name of a topic, with the deployment prefix."""
        return f"{self.prefix}{topic}"

    def dlq_for(self, topic: str) -> str:
        """The dead-letter topic for records that failed on `topic` (already prefixed)."""
        if topic == self.name(self.measurements):
            return self.name(self.measurements_dlq)
        return f"{topic}{self.dlq_suffix}"


class ServiceSettings(BaseSettings):
    """What each of the three services needs to run."""

    model_config = SettingsConfigDict(
        env_prefix="LODESTAR_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "lodestar"
    database_url: str = "sqlite+aiosqlite:///var/lodestar.db"
    kafka_bootstrap: str = "127.0.0.1:9092"
    # kafkasec: the service's own broker principal (README "Security"). No protocol given:
    # SASL_PLAINTEXT when a username is, else PLAINTEXT.
    kafka_security_protocol: SecurityProtocol | None = None
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    topics: Topics = Topics()
    consumer_group: str | None = None
    consumer_batch_max: int = 2000
    consumer_poll_timeout_ms: int = 200
    consumer_commit_interval_ms: int = 100
    # A fetch waits on the broker up to `fetch_max_wait_ms` for `fetch_min_bytes` to pile up
    # (README "Measured"): a consumer fetching as soon as one record is there paid a fetch,
    # a batch and its commit per handful of records, and under load cost more in the broker
    # and the handler than the few ms it saved. The minimum is at most a fetch's own cap; the
    # wait well inside the client's request timeout (40 s), which a longer one would trip.
    consumer_fetch_min_bytes: int = Field(default=64 * 1024, ge=1, le=FETCH_MAX_BYTES)
    consumer_fetch_max_wait_ms: int = Field(default=20, ge=0, le=10_000)
    outbox_batch_max: int = 1000
    outbox_poll_interval_s: float = 1.0
    producer_max_in_flight: int = 10_000
    # How long the identities of processed events are kept (re-deliveries are recognised for
    # that long; match the retention of the topics consumed), and how often older ones go.
    inbox_retention_s: float = 7 * 24 * 3600
    inbox_prune_interval_s: float = 3600
    max_event_bytes: int = 64 * 1024
    public_url: str = "http://127.0.0.1:8000"
    bootstrap_tenant: str = "demo"
    bootstrap_admin_key: SecretStr | None = None
    # apisec (issue 18): seals webhook secrets and signs page cursors (`shared.crypto`); every
    # service refuses to start without it.
    secret_key: SecretStr | None = None
    # Body size cap of every request (413 above it), per-key rate limit (a token bucket per
    # process: `rate_limit_burst` calls at once, refilled at `rate_limit_per_s`; 429 with
    # Retry-After past it), and whether `/readyz` says why it is not ready and `/metrics` is
    # served without a key (both off: `/readyz` says only ready or not, `/metrics` needs an
    # admin key).
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    rate_limit_per_s: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    public_readyz_detail: bool = True
    public_metrics: bool = True
    # Freeze start-up objects and collect less often once started (`shared.app.tune_gc`); off
    # for apps run inside a test process, which is not the service's to tune.
    gc_freeze: bool = True
    log_level: str = "INFO"
    log_json: bool = True
    # edge: bounds at the edge and answered outages (issue 21). How far past now an event's
    # `time` may be (see `shared.bounds.DEFAULT_MAX_FUTURE_SKEW_S` for why a day); how long HTTP
    # ingest waits for the broker's acknowledgement before answering 503, and the Retry-After
    # it then sends.
    max_future_skew_s: float = Field(default=DEFAULT_MAX_FUTURE_SKEW_S, ge=0, le=366 * 86400)
    ingest_ack_timeout_s: float = Field(default=5.0, gt=0, le=60)
    ingest_retry_after_s: int = Field(default=5, ge=1, le=3600)
    # consumer:
    consumer_stuck_after_s: float = Field(
        30.0,
        description="`/readyz` reports a consume loop (or the outbox relay) not ready once its "
        "batch in hand has been failing this long with no attempt succeeding",
    )
    topic_partitions: int = Field(
        4,
        ge=1,
        description="Partitions of each topic created at start-up (`shared.topics`): the most "
        "members of one consumer group that share a topic's load, so the most replicas of a "
        "service that consume in parallel. Records keep their order per key (tenant/subject) "
        "whatever the count. An existing topic is left as it is (Kafka can add partitions, "
        "which moves keys between them: do it while producers are stopped)",
    )
    topic_partitions_by_topic: dict[str, int] = Field(
        default_factory=dict,
        description="Partitions per topic (its unprefixed name, e.g. `kpi.measurements`), "
        "where it differs from `topic_partitions`",
    )
    topic_replication_factor: int = Field(
        1,
        ge=1,
        description="Replicas of each topic created at start-up (at most the brokers' count; "
        "3 in production, so that one broker down loses nothing)",
    )

    @property
    def kafka_auth(self) -> KafkaAuth:
        protocol = self.kafka_security_protocol or (
            "SASL_PLAINTEXT" if self.kafka_username else "PLAINTEXT"
        )
        return KafkaAuth(
            security_protocol=protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_username,
            password=self.kafka_password.get_secret_value() if self.kafka_password else None,
            ssl_cafile=self.kafka_ssl_cafile,
        )

    @property
    def group_id(self) -> str:
        return self.consumer_group or f"{self.topics.prefix}lodestar-{self.service_name}"
