"""A hostile corpus (hypothesis-generated: extreme and malformed timestamps, NUL, lone
surrogates, bad UTF-8, huge and tiny numbers, wrong types, unknown fields, oversized records)
mixed with good records, through Kafka to every consumer and through HTTP ingest (bad
restatements and retractions among them): every good
measurement is stored, every bad record is answered 422 or dead-lettered with a reason, and
each consumer gets past the corpus (a sentinel after it arrives)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shared.consumer import REASON_HEADER
from shared.settings import Topics
from tests.support.accounting import Reader, create_topics, stored, to_every_partition
from tests.support.kafka import produce, wait_until
from tests.support.processes import platform, sqlite_urls

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

AT = datetime(2026, 11, 2, tzinfo=UTC)
BAD_TIMES = st.sampled_from(
    ["9999-12-31T23:00:00Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2026-13-45T25:61:00Z",
     "not a time", "", "2026-11-02T00:00:00"]
)  # fmt: skip
BAD_VALUES = st.one_of(
    st.sampled_from([1e308, -1e308, 1e16, -1e300, 2**70, "42", True, None, [], {}]),
    st.text(max_size=5),
)
BAD_TEXT = st.sampled_from(["a\x00b", "\ud800", "x\udfff"])


def envelope(value: Any = 1.0, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0", "type": "lodestar.kpi.measurement.v1", "id": str(uuid.uuid4()),
        "source": "tests/hostile", "time": AT.isoformat(), "subject": "orders", "tenant": "acme",
        "datacontenttype": "application/json", "data": {"value": value},
    }  # fmt: skip
    event.update(overrides)
    return event


RETRACTED = "lodestar.kpi.measurement.retracted.v1"
BAD_REVISIONS = st.sampled_from([-1, 1.5, 2**53 + 1, 2**70, "1", True, None, []])


def retraction(**data: Any) -> dict[str, Any]:
    return envelope(type=RETRACTED, data={"source": "tests/hostile", "id": "x", **data})


def _encode(event: dict[str, Any]) -> bytes:
    # ensure_ascii keeps lone surrogates as \\ud800 escapes: valid JSON text, invalid content.
    return json.dumps(event).encode()


BAD_MEASUREMENTS = st.one_of(
    BAD_TIMES.map(lambda t: _encode(envelope(time=t))),
    BAD_VALUES.map(lambda v: _encode(envelope(v))),
    BAD_TEXT.map(lambda s: _encode(envelope(source=s))),
    BAD_TEXT.map(lambda s: _encode(envelope(data={"value": 1.0, "dimensions": {"k": s}}))),
    st.just(_encode(envelope(data={"value": 1.0, "unknown": 1}))),
    st.just(_encode(envelope(specversion="0.3"))),
    st.just(_encode(envelope(subject="no-such-kpi"))),
    st.just(_encode(envelope(data={"value": 1.0, "dimensions": {"k": "x" * 70_000}}))),
    st.binary(min_size=1, max_size=40).map(lambda b: b"\xff\xfe" + b),
    st.text(max_size=30).map(lambda t: ("{" + t).encode()),
    # Corrections: a restatement's revision, a retraction's naming of its measurement.
    BAD_REVISIONS.map(lambda r: _encode(envelope(data={"value": 1.0, "revision": r}))),
    BAD_TEXT.map(lambda s: _encode(retraction(id=s))),
    BAD_TEXT.map(lambda s: _encode(retraction(source=s))),
    st.sampled_from(["", "x" * 257, None, 7]).map(lambda i: _encode(retraction(id=i))),
    st.just(_encode(retraction(extra=1))),
    st.just(
        _encode(envelope(type=RETRACTED, subject="no-such-kpi", data={"source": "s", "id": "i"}))
    ),
)


def item(**overrides: Any) -> dict[str, Any]:
    return {"kpi": "orders", "value": 1.0, "time": AT.isoformat(), **overrides}


BAD_BODIES = st.one_of(
    BAD_TIMES.map(lambda t: item(time=t)),
    BAD_VALUES.map(lambda v: item(value=v)),
    BAD_TEXT.map(lambda s: item(source=s)),
    BAD_TEXT.map(lambda s: item(id=s)),
    BAD_TEXT.map(lambda s: item(dimensions={"k": s})),
    st.just(item(unknown=1)),
    st.just(item(kpi="no-such-kpi")),
    st.just(item(dimensions={"k": "x" * 70_000})),
    BAD_REVISIONS.filter(lambda r: r is not None).map(lambda r: item(id="r", revision=r)),
    st.just(item(revision=1)),  # a restatement names its measurement: no id, no revision
)
BAD_RETRACTIONS = st.one_of(
    BAD_TEXT.map(lambda s: {"kpi": "orders", "id": s}),
    BAD_TEXT.map(lambda s: {"kpi": "orders", "id": "x", "source": s}),
    st.sampled_from(["", "x" * 257, None, 7]).map(lambda i: {"kpi": "orders", "id": i}),
    st.just({"kpi": "no-such-kpi", "id": "x"}),
    st.just({"kpi": "orders", "id": "x", "unknown": 1}),
    st.just({"kpi": "orders"}),
)
GOOD_VALUES = st.integers(min_value=-1000, max_value=1000).map(float)


def draw(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """`n` examples of `strategy`, the same on every run (derandomized)."""
    out: list[Any] = []

    @settings(
        max_examples=n, database=None, derandomize=True, deadline=None,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(strategy)
    def collect(example: Any) -> None:
        out.append(example)

    collect()
    return out[:n]


@pytest.mark.timeout(300)
async def test_hostile_corpus_stops_no_consumer(
    kafka_bootstrap: str, topics: Topics, admin_key: str, tmp_path: Path
) -> None:
    databases = sqlite_urls(tmp_path)
    measurements = topics.name(topics.measurements)
    others = [topics.name(t) for t in (topics.kpi_values, topics.okr_events, topics.tenants)]
    dlqs = {t: topics.dlq_for(t) for t in [measurements, *others]}
    await create_topics(kafka_bootstrap, [*dlqs, *dlqs.values()])
    bad = draw(BAD_MEASUREMENTS, 60)
    good = draw(GOOD_VALUES, 60)
    good_records = [_encode(envelope(v, time=(AT + timedelta(minutes=i)).isoformat()))
                    for i, v in enumerate(good)]  # fmt: skip
    corpus = [r for pair in zip(good_records, bad, strict=True) for r in pair]
    # Forged and garbled records on the other consumers' topics.
    garbled = [
        b"\xff\xfe not utf-8", b"{not json", b"", _encode({"specversion": "1.0"}),
        _encode(envelope(type="lodestar.kpi.value.v1", data={"kpi": "orders", "value": "x"})),
        _encode(envelope(type="lodestar.kr.progress.v1", data={"progress": 1e308})),
        _encode(envelope(type="lodestar.apikey.v1", data={"key_id": "\x00"})),
        _encode(envelope(tenant="\ud800")),
    ]  # fmt: skip
    headers = {"Authorization": f"Bearer {admin_key}"}
    with platform(
        bootstrap=kafka_bootstrap,
        topics=topics,
        admin_key=admin_key,
        database_urls=databases,
        log_dir=tmp_path,
    ) as running:
        metrics = running.url("metrics")
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            for kpi in ("orders", "sentinel"):
                body = {"key": kpi, "name": kpi, "aggregation": "sum", "period": "day"}
                created = await client.post(f"{metrics}/v1/kpis", json=body)
                assert created.status_code == 201, created.text

            readers = {t: Reader(kafka_bootstrap, d) for t, d in dlqs.items()}
            for reader in readers.values():
                await reader.__aenter__()
            try:
                await produce(kafka_bootstrap, measurements, corpus, ["acme/orders"] * len(corpus))
                for topic in others:
                    await produce(kafka_bootstrap, topic, garbled, ["acme/x"] * len(garbled))

                # HTTP: bad bodies are 422 problem+json, and nothing of them is stored.
                bodies = [("measurements", b) for b in draw(BAD_BODIES, 40)]
                bodies += [("measurements/retractions", b) for b in draw(BAD_RETRACTIONS, 20)]
                for path, body in bodies:
                    answer = await client.post(
                        f"{metrics}/v1/{path}",
                        content=json.dumps(body).encode(),
                        headers={"content-type": "application/json"},
                    )
                    assert answer.status_code == 422, (body, answer.text)
                    assert answer.headers["content-type"] == "application/problem+json"

                # Sentinels after the corpus: a good measurement and a bad record per partition.
                parts = await to_every_partition(
                    kafka_bootstrap, measurements,
                    lambda _p: ("acme/sentinel", _encode(envelope(subject="sentinel"))),
                )  # fmt: skip
                marker = _encode(envelope(subject="no-such-kpi", source="tests/sentinel"))
                for topic in [measurements, *others]:
                    await to_every_partition(kafka_bootstrap, topic, lambda _p: ("acme/s", marker))
                await wait_until(
                    lambda: _has(databases["metrics"], "sentinel", parts),
                    timeout_s=120,
                    what="the good sentinels stored after the corpus",
                )
                for topic, reader in readers.items():
                    # kpi.values, okr.events and tenants each have two consuming services.
                    want = parts * (1 if topic == measurements else 2)
                    await reader.wait_for(
                        lambda rs, want=want: sum(r.value == marker for r in rs) >= want,
                        timeout_s=120,
                        what=f"the bad sentinels of {topic}",
                    )
                    await reader.read_to_end()
                    for record in reader.records:
                        assert dict(record.headers).get(REASON_HEADER), record
            finally:
                for reader in readers.values():
                    await reader.__aexit__(None, None, None)

        letters = Counter(r.value for r in readers[measurements].records if r.value != marker)
        assert letters == Counter(bad)  # every bad record dead-lettered, once
        assert (await stored(databases["metrics"]))["orders"] == (len(good), sum(good))
        for topic in others:
            values = Counter(r.value for r in readers[topic].records if r.value != marker)
            assert values == Counter(dict.fromkeys(garbled, 2)), topic


async def _has(url: str, kpi: str, n: int) -> bool:
    return (await stored(url)).get(kpi, (0, 0.0))[0] >= n
