"""Events as metrics and goals publish them, a real local webhook receiver, settings."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from services.alerts.settings import AlertsSettings
from shared.settings import Topics
from tests.support.apps import service_settings
from tests.support.kafka import TopicReader, produce


def alerts_settings(
    bootstrap: str, topics: Topics, database_url: str, admin_key: str
) -> AlertsSettings:
    settings = service_settings(
        AlertsSettings,
        bootstrap=bootstrap,
        topics=topics,
        database_url=database_url,
        admin_key=admin_key,
    )
    settings.evaluation_interval_s = 0.2
    settings.webhook_allow_private = True  # the receivers of these tests are on 127.0.0.1
    settings.webhook_poll_interval_s = 0.2
    settings.webhook_backoff_base_s = 0.2
    settings.webhook_backoff_max_s = 1.0
    return settings


def _envelope(tenant: str, type_: str, subject: str, data: dict[str, Any], id: str | None) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": id or str(uuid.uuid4()),
            "source": "tests/upstream",
            "type": type_,
            "time": datetime.now(UTC).isoformat(),
            "subject": subject,
            "tenant": tenant,
            "datacontenttype": "application/json",
            "data": data,
        }
    ).encode()


def kpi_value(
    kpi: str,
    value: float,
    *,
    tenant: str = "acme",
    health: str = "green",
    tags: list[str] | None = None,
    id: str | None = None,
    days_ago: int = 0,
) -> bytes:
    """A KPI value as metrics publishes it. By default of a period holding now (the present,
    which alerts watch) that starts now, so that no two values share a period: the service
    coalesces values of one period in a batch, and each value here stands for an evaluation.
    With `days_ago`, of that earlier UTC day (history: a late measurement, a backfill)."""
    now = datetime.now(UTC)
    start = now
    if days_ago:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    data = {
        "kpi": kpi,
        "period": "day",
        "period_start": start.isoformat(),
        "period_end": (start + timedelta(days=1)).isoformat(),
        "aggregation": "last",
        "value": value,
        "count": 1,
        "last_value": value,
        "last_at": min(now, start + timedelta(days=1, microseconds=-1)).isoformat(),
        "health": health,
        "tags": tags or [],
    }
    return _envelope(tenant, "lodestar.kpi.value.v1", kpi, data, id)


def kr_progress(
    key_result: str, status: str, *, kpi: str | None = None, tenant: str = "acme"
) -> bytes:
    data = {
        "key_result_id": key_result,
        "objective_id": "obj-1",
        "cycle_id": "cyc-1",
        "title": "Reduce churn",
        "kind": "decrease",
        "current": 5.0,
        "progress": 0.2,
        "raw_progress": 0.2,
        "expected": 0.6,
        "status": status,
        "kpi": kpi,
    }
    return _envelope(tenant, "lodestar.kr.progress.v1", key_result, data, None)


async def send(bootstrap: str, topic: str, *events: bytes) -> None:
    keys = [f"{json.loads(e)['tenant']}/{json.loads(e)['subject']}" for e in events]
    await produce(bootstrap, topic, list(events), keys=keys)


def of_type(reader: TopicReader, suffix: str) -> list[dict[str, Any]]:
    """The events read so far whose type ends with `suffix` (firing.v1 / resolved.v1), but
    the sentinels' firings."""
    return [e for e in not_sentinel(reader) if e["type"].endswith(suffix)]


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records each POST and answers `statuses` in turn
    (then 200); a post about a KPI in `held` is answered 503 for as long as it is there."""

    url: str
    statuses: list[int] = field(default_factory=list)
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    held: set[str] = field(default_factory=set)
    codes: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # wall-clock time of each post

    def bodies(self, kpi: str | None = None) -> list[dict[str, Any]]:
        """The posted bodies (about `kpi`, if given), in the order they came."""
        bodies = [json.loads(body) for _, body in self.posts]
        return [b for b in bodies if kpi is None or b["alerts"][0]["labels"].get("kpi") == kpi]

    def answered(self, kpi: str) -> list[tuple[str, int]]:
        """(status of the body, the code answered) of each post about `kpi`, in order."""
        return [
            (body["status"], code)
            for body, code in zip(self.bodies(), self.codes, strict=True)
            if body["alerts"][0]["labels"].get("kpi") == kpi
        ]


@contextmanager
def webhook_receiver(statuses: list[int] | None = None) -> Iterator[Receiver]:
    receiver = Receiver(url="", statuses=list(statuses or []))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            posted = json.loads(body)
            # A webhook body carries one alert; Alertmanager's API takes a list of them.
            alerts = posted if isinstance(posted, list) else posted["alerts"]
            kpi = alerts[0]["labels"].get("kpi") if alerts else None
            with lock:
                receiver.posts.append((dict(self.headers.items()), body))
                receiver.times.append(time.time())
                code = receiver.statuses.pop(0) if receiver.statuses else 200
                code = 503 if kpi in receiver.held else code
                receiver.codes.append(code)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def kr_graduated(
    key_result: str,
    kpi: str,
    *,
    target: float = 5.0,
    kind: str = "keep_below",
    tenant: str = "acme",
    id: str | None = None,
) -> bytes:
    """`lodestar.kr.graduated.v1` as goals publishes it on `okr.events`."""
    data = {
        "key_result_id": key_result,
        "kpi": kpi,
        "kind": kind,
        "target": target,
        "bound_low": None,
        "bound_high": target,
        "periods_met": 3,
    }
    return _envelope(tenant, "lodestar.kr.graduated.v1", key_result, data, id)


SENTINEL = "Sentinel"


async def sentinel(
    client: httpx.AsyncClient, bootstrap: str, topic: str, reader: TopicReader, after: str
) -> None:
    """Prove an absence: what the service would publish about the values of KPI `after` sent
    so far is on `reader` once this returns. A value of a fresh KPI whose own rule fires at
    once is produced under `after`'s record key, so into the same partition: the service
    evaluates it after them. Its firing is awaited, then every partition of `reader`'s topic
    is read to its end: what the service wrote before went through its producer first.
    `not_sentinel` and `of_type` leave these firings out."""
    kpi = f"sentinel-{uuid.uuid4().hex[:8]}"
    rule = {"name": SENTINEL, "kpi": kpi, "threshold": 0.0}
    assert (await client.post("/v1/rules", json=rule)).status_code == 201
    tenant = "acme"
    await produce(bootstrap, topic, [kpi_value(kpi, 1.0)], keys=[f"{tenant}/{after}"])
    await reader.wait_for(
        lambda _: any(e["data"]["labels"].get("kpi") == kpi for e in reader.events()),
        what=f"the sentinel {kpi}",
    )
    await read_to_end(reader)


async def read_to_end(reader: TopicReader) -> None:
    """Read every partition of `reader`'s topic up to its end as of now (what
    `TopicReader.drain()` on branch tooling does)."""
    consumer = reader._consumer  # private: until TopicReader.drain() is merged
    ends = await consumer.end_offsets(list(consumer.assignment()))
    deadline = time.monotonic() + 20.0
    while any([await consumer.position(tp) < end for tp, end in ends.items()]):
        assert time.monotonic() < deadline, f"timed out reading {reader.topic} to its end"
        await reader.poll()


def not_sentinel(reader: TopicReader) -> list[dict[str, Any]]:
    """The events read so far, but the sentinels' firings."""
    return [e for e in reader.events() if e["data"]["labels"].get("alertname") != SENTINEL]
