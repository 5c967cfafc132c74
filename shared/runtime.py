"""What a running service holds: database, producer, outbox relay, consumers, supervisor.

Built in each app's lifespan (never at import time) and handed to routes as
`request.app.state.runtime`. Start-up order: database and migrations, bootstrap key,
topics, producer, relay, consumers; shutdown runs it backwards, draining each loop first.

Scale-out: every replica runs the consumers (the group shares the partitions); the loops one
replica at a time must run (relay, pruner, the services' timers and senders) are registered
with `singleton()`, which on PostgreSQL runs each under a `shared.leader.Leadership`. On SQLite
the runtime holds `shared.db.SqliteFileLock` from start to stop, so a second process is refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from shared.auth import rotate_bootstrap_key
from shared.consumer import SPARSE, ConsumerRunner, Fetch
from shared.db import Database, SqliteFileLock, sqlite_file
from shared.events import API_KEY_V1, new_event
from shared.identity import identity_handler
from shared.inbound import BatchHandler, Decoder
from shared.inbox import InboxPruner
from shared.leader import WAKE_CHANNEL, Leadership, SingletonLoop
from shared.looplag import LoopLagMonitor
from shared.migrations import upgrade
from shared.observability import Metrics
from shared.outbox import OutboxRelay, enqueue
from shared.producer import EventProducer
from shared.settings import ServiceSettings
from shared.statistics import FirstAnalyze
from shared.supervisor import Supervisor
from shared.topics import ensure_topics, topic_specs

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ConsumerSpec:
    """A consumer a service runs: its name, the topics (unprefixed) and the batch handler.

    `inbox_window`: the handler deduplicates through the inbox (`shared.inbox`), whose
    identities are pruned after `inbox_retention_s`, so events older than that are refused
    (a re-delivery of one would be applied again). False for a handler whose dedupe lasts
    for ever (measurements, on their stored identity) or that applies state idempotently.

    `fetch`: None for a consumer whose records someone waits on (the settings'
    `consumer_fetch_*`: a few ms at most), else `shared.consumer.SPARSE` or `UNHURRIED`.
    """

    name: str
    topics: Sequence[str]
    handler: BatchHandler
    decoder: Decoder | None = None
    inbox_window: bool = True
    fetch: Fetch | None = None


class Runtime:
    def __init__(self, settings: ServiceSettings, *, migrations: Path) -> None:
        self.settings = settings
        self.migrations = migrations
        self.db = Database(settings.database_url)
        self.metrics = Metrics(settings.service_name)
        self.producer = EventProducer(
            settings.kafka_bootstrap,
            auth=settings.kafka_auth,
            client_id=f"lodestar-{settings.service_name}",
            max_in_flight=settings.producer_max_in_flight,
        )
        self.relay = OutboxRelay(
            self.db,
            self.producer,
            batch_max=settings.outbox_batch_max,
            poll_interval_s=settings.outbox_poll_interval_s,
        )
        self.pruner = InboxPruner(
            self.db,
            retention_s=settings.inbox_retention_s,
            interval_s=settings.inbox_prune_interval_s,
        )
        self.looplag = LoopLagMonitor(self.metrics.registry, settings.service_name)
        self.supervisor = Supervisor()
        self.consumers: dict[str, ConsumerRunner] = {}
        self.singletons: dict[str, SingletonLoop] = {}
        self.leaderships: dict[str, Leadership] = {}
        path = sqlite_file(settings.database_url)
        self._file_lock = SqliteFileLock(path) if path is not None else None
        self._lag_labels: set[tuple[str, str, str, str]] = set()

    def topic(self, name: str) -> str:
        return self.settings.topics.name(name)

    async def start(self, consumers: Sequence[ConsumerSpec] = (), *, identity: bool = True) -> None:
        """Migrate, install the bootstrap key, connect to Kafka and start the loops.

        `identity` subscribes to the `tenants` topic (every service but the issuer needs it).
        """
        if self._file_lock is not None:
            self._file_lock.acquire()
        await upgrade(self.db, self.migrations)
        await self._install_bootstrap_key(announce=not identity)
        specs = list(consumers)
        if identity:
            # Tenant and key records are state, upserted: a late one is applied, not refused.
            tenants = [self.settings.topics.tenants]
            handler = identity_handler(self.db)
            specs.append(
                ConsumerSpec("identity", tenants, handler, inbox_window=False, fetch=SPARSE)
            )
        await self._start_producer()
        await ensure_topics(
            self.settings.kafka_bootstrap,
            topic_specs(self.settings, [t for spec in specs for t in spec.topics]),
            auth=self.settings.kafka_auth,
        )
        self.singleton("outbox-relay", self.relay, wake_on_outbox=True)
        self.singleton("inbox-pruner", self.pruner)
        if not self.db.is_sqlite:
            self.singleton("first-analyze", FirstAnalyze(self.db))
        self.supervisor.start("loop-lag", self.looplag.run)
        live = Fetch(
            self.settings.consumer_fetch_min_bytes, self.settings.consumer_fetch_max_wait_ms
        )
        for spec in specs:
            runner = ConsumerRunner(
                name=spec.name,
                bootstrap=self.settings.kafka_bootstrap,
                auth=self.settings.kafka_auth,
                group_id=f"{self.settings.group_id}.{spec.name}",
                topics=[self.topic(t) for t in spec.topics],
                handler=spec.handler,
                producer=self.producer,
                dlq_for=self.settings.topics.dlq_for,
                batch_max=self.settings.consumer_batch_max,
                poll_timeout_ms=self.settings.consumer_poll_timeout_ms,
                commit_interval_ms=self.settings.consumer_commit_interval_ms,
                fetch=spec.fetch or live,
                max_event_bytes=self.settings.max_event_bytes,
                observer=self.metrics,
                decoder=spec.decoder,
                health_probe=self.probe_database,
                max_age_s=self.settings.inbox_retention_s if spec.inbox_window else None,
            )
            self.consumers[spec.name] = runner
            self.supervisor.start(f"consumer:{spec.name}", runner.run)

    def singleton(self, name: str, loop: SingletonLoop, *, wake_on_outbox: bool = False) -> None:
        """Run `loop` in one replica of the service at a time (in this process on SQLite),
        supervised as `name`; stopped by `stop()` after the consumers. `wake_on_outbox`: wake
        it whenever any replica commits outbox rows (this process's commits wake it through
        `Database.after_commit`, if it subscribed)."""
        self.singletons[name] = loop
        if self.db.is_sqlite:
            self.supervisor.start(name, loop.run)
            return
        lock = f"{self.settings.service_name}:{name}"
        channel = WAKE_CHANNEL if wake_on_outbox else None
        leadership = Leadership(self.settings.database_url, lock, loop, wake_channel=channel)
        self.leaderships[name] = leadership
        self.supervisor.start(name, leadership.run)

    async def _install_bootstrap_key(self, *, announce: bool) -> None:
        """Install the bootstrap key and revoke the ones before it here; the issuer of keys
        (`announce`: goals) also publishes the revocations, so a service that was not
        restarted with the new key learns of them too."""
        key = self.settings.bootstrap_admin_key
        if key is None:
            return
        settings = self.settings
        async with self.db.transaction() as session:
            revoked = await rotate_bootstrap_key(
                session, settings.bootstrap_tenant, key.get_secret_value()
            )
            for record in revoked if announce else ():
                log.info("bootstrap_key_revoked", key_id=record.key_id)
                event = new_event(
                    type=API_KEY_V1,
                    source=f"lodestar/{settings.service_name}",
                    tenant=record.tenant,
                    subject=f"key/{record.key_id}",
                    data=record,
                )
                await enqueue(session, settings.topics.name(settings.topics.tenants), event)

    async def _start_producer(self, deadline_s: float = 60.0) -> None:
        """Connect to Kafka, waiting for a broker that is still starting."""
        until = time.monotonic() + deadline_s
        while True:
            try:
                await self.producer.start()
                return
            except Exception as exc:
                if time.monotonic() > until:
                    raise
                log.warning("kafka_unavailable", error=str(exc), retry_in_s=1)
                await asyncio.sleep(1)

    async def probe_database(self) -> None:
        """Raise unless the database answers `SELECT 1` (on a pooled connection checked
        first, so one the server dropped is replaced, not believed)."""
        await self.db.ping()

    def stuck(self) -> dict[str, float]:
        """The loops failing for longer than `consumer_stuck_after_s`, and for how long."""
        limit = self.settings.consumer_stuck_after_s
        stuck = {f"consumer:{name}": r.stuck_for() for name, r in self.consumers.items()}
        stuck["outbox-relay"] = self.relay.failing_for()
        return {name: s for name, s in stuck.items() if s > limit}

    async def refresh_gauges(self) -> None:
        """Read the state the gauges show (lag, stuck time, outbox backlog): at scrape time."""
        metrics, service = self.metrics, self.settings.service_name
        shown: set[tuple[str, str, str, str]] = set()
        for name, runner in self.consumers.items():
            metrics.stuck.labels(service, name).set(runner.stuck_for())
            for tp, lag in (await runner.lag()).items():
                labels = (service, name, tp.topic, str(tp.partition))
                metrics.lag.labels(*labels).set(lag)
                shown.add(labels)
        for labels in self._lag_labels - shown:  # partitions this process no longer holds
            metrics.lag.remove(*labels)
        self._lag_labels = shown
        try:
            async with asyncio.timeout(2):
                rows, age = await self.relay.backlog()
        except Exception as exc:  # the database is down: /readyz says so; keep the last
            log.debug("outbox_backlog_unavailable", error=str(exc))
        else:
            metrics.outbox_backlog.set(rows)
            metrics.outbox_oldest_age.set(age)

    async def wait_assigned(self, timeout_s: float = 30.0) -> None:
        """Wait until every consumer has partitions (tests and the demo need a joined group)."""
        async with asyncio.timeout(timeout_s):
            for runner in self.consumers.values():
                await runner.assigned.wait()

    async def stop(self) -> None:
        """Drain the consumers first, then the relay, so the events their last batches wrote
        to the outbox are published before the producer closes."""
        for runner in self.consumers.values():
            runner.request_stop()
        await self.supervisor.stop([f"consumer:{name}" for name in self.consumers], timeout_s=15)
        for name, loop in self.singletons.items():
            leadership = self.leaderships.get(name)
            (leadership or loop).request_stop()
        self.looplag.request_stop()
        await self.supervisor.stop(timeout_s=10)
        await self.producer.stop()
        await self.db.dispose()
        if self._file_lock is not None:
            self._file_lock.release()
