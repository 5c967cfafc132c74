"""What the scale-out tests read from outside the replicas: who leads which singleton loop
(PostgreSQL's advisory locks), whether the whole platform is quiet (every consumer group at
the end of its topics, every outbox empty), and the records a topic holds more than once."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.accounting import query
from tests.support.kafka import client_options

# The loops each service runs in one replica at a time (`Runtime.singleton`).
SINGLETONS = {
    "goals": {"outbox-relay", "inbox-pruner", "first-analyze", "status-timer"},
    "metrics": {"outbox-relay", "inbox-pruner", "first-analyze"},
    "alerts": {
        "outbox-relay",
        "inbox-pruner",
        "first-analyze",
        "alert-timer",
        "webhooks",
        "alertmanager",
    },
}

LEADERS_SQL = """
SELECT a.application_name
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND a.application_name LIKE 'lodestar-leader:%'
"""


async def leaders(database_url: str) -> dict[str, int]:
    """Singleton loop (e.g. `outbox-relay`) → the OS pid of the replica leading it, read
    from the advisory locks granted in the service's database and the sessions holding them
    (`shared.leader` names each lock session `lodestar-leader:<service>:<loop>:<pid>`)."""
    found: dict[str, int] = {}
    for (name,) in await query(database_url, LEADERS_SQL):
        _, _service, loop, pid = name.split(":")
        found[loop] = int(pid)
    return found


async def outbox_total(database_urls: dict[str, str]) -> int:
    total = 0
    for url in database_urls.values():
        total += int((await query(url, "SELECT count(*) FROM outbox"))[0][0])
    return total


# The consumer groups of the data path (`<prefix>lodestar-<service>.<consumer>`).
DATA_GROUPS = (
    "metrics.measurements",
    "metrics.okr-events",
    "goals.kpi-values",
    "alerts.evaluation",
)


async def group_lags(bootstrap: str, prefix: str) -> dict[str, int]:
    """Consumer group → records not yet committed over its partitions (-1: no offsets), to
    say which part of the platform is behind when a test times out."""
    admin = AIOKafkaAdminClient(**client_options(bootstrap))
    consumer = AIOKafkaConsumer(**client_options(bootstrap))
    await admin.start()
    await consumer.start()
    lags: dict[str, int] = {}
    try:
        for group in DATA_GROUPS:
            offsets = await admin.list_consumer_group_offsets(f"{prefix}lodestar-{group}")
            if not offsets:
                lags[group] = -1
                continue
            ends = await consumer.end_offsets(list(offsets))
            lags[group] = sum(end - offsets[tp].offset for tp, end in ends.items())
        return lags
    finally:
        await consumer.stop()
        await admin.close()


async def groups_caught_up(bootstrap: str, prefix: str) -> bool:
    """Every consumer group of the data path has committed the end of each partition it
    reads (so every event it consumed is processed and its effects committed)."""
    return all(lag == 0 for lag in (await group_lags(bootstrap, prefix)).values())


async def quiet(bootstrap: str, prefix: str, database_urls: dict[str, str]) -> bool:
    """Nothing left to do anywhere: every group caught up, then every outbox empty, then the
    groups still caught up (an event published meanwhile would show in the second look)."""
    return (
        await groups_caught_up(bootstrap, prefix)
        and await outbox_total(database_urls) == 0
        and await groups_caught_up(bootstrap, prefix)
    )


@dataclass
class Repeats:
    """The records of a topic holding an event id seen before."""

    ids: set[str]
    copies: int  # records beyond the first of each id
    first_ms: dict[str, int]  # id → broker timestamp (ms) of its first copy
    again_ms: dict[str, list[int]]  # id → timestamps of its later copies


def repeats(records: list[ConsumerRecord[bytes, bytes]]) -> Repeats:
    """The repeated events of `records`; asserts each repeat is the first copy, byte for byte
    (same id, same event: what consumers deduplicate)."""
    by_id: dict[str, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
    for record in records:
        if record.value:
            by_id[json.loads(record.value)["id"]].append(record)
    repeated = {i: rs for i, rs in by_id.items() if len(rs) > 1}
    for event_id, copies in repeated.items():
        assert all(c.value == copies[0].value for c in copies), f"{event_id} differs"
    return Repeats(
        ids=set(repeated),
        copies=sum(len(rs) - 1 for rs in repeated.values()),
        first_ms={i: min(r.timestamp for r in rs) for i, rs in repeated.items()},
        again_ms={i: sorted(r.timestamp for r in rs)[1:] for i, rs in repeated.items()},
    )
