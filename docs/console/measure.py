"""How the README's console figures were measured: the proxy's extra hop, and the server CPU of
one poll round per view, on the three services as processes seeded by `scripts/demo.py`.

    LODESTAR_CACHE=... .venv/bin/python docs/console/measure.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared.auth import generate_key
from shared.settings import Topics
from tests.e2e.console.test_console import three_services
from tests.support import infra

CALLS = 200


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def latency(client: httpx.AsyncClient, url: str) -> tuple[float, float]:
    """p50 and p95 in ms of CALLS sequential GETs."""
    took = []
    for _ in range(CALLS):
        started = time.perf_counter()
        answer = await client.get(url)
        took.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.95)]


async def main() -> None:
    bootstrap = infra.kafka_bootstrap()
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    key = generate_key()[0]
    with (
        tempfile.TemporaryDirectory() as tmp,
        three_services(bootstrap, topics, key, Path(tmp)) as running,
    ):
        goals, metrics, alerts = (running.url(s) for s in ("goals", "metrics", "alerts"))
        seed = await asyncio.create_subprocess_exec(
            sys.executable, "scripts/demo.py", "--goals", goals, "--metrics", metrics,
            "--alerts", alerts, "--kafka", bootstrap, "--tenant", "acme", "--key", key,
            "--topic-prefix", topics.prefix, "--history-days", "14", "--seconds", "0",
        )  # fmt: skip
        assert await seed.wait() == 0
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            for path in ("/dashboard?points=20", "/kpis/uptime"):
                direct = await latency(client, f"{metrics}/v1{path}")
                proxied = await latency(client, f"{goals}/console/api/metrics{path}")
                print(
                    f"GET {path}: direct p50 {direct[0]:.1f} ms p95 {direct[1]:.1f} ms; "
                    f"through the proxy p50 {proxied[0]:.1f} ms p95 {proxied[1]:.1f} ms"
                )
            cycle = (await client.get(f"{goals}/v1/cycles")).json()["items"][0]["id"]
            tree = (await client.get(f"{goals}/v1/cycles/{cycle}/alignment")).json()
            ids: list[str] = []

            def walk(nodes: list[dict[str, Any]]) -> None:
                for node in nodes:
                    ids.append(node["objective"]["id"])
                    walk(node["children"])

            walk(tree["roots"])
            views = {
                "OKR tree": [f"{goals}/v1/cycles/{cycle}/alignment"]
                + [f"{goals}/v1/objectives/{i}" for i in ids],
                "OKR tree, nothing moved (the alignment tree only)": [
                    f"{goals}/v1/cycles/{cycle}/alignment"
                ],
                "KPI dashboard": [f"{goals}/console/api/metrics/dashboard?points=20"],
            }
            pids = {s: running.services[s].process.pid for s in ("goals", "metrics")}
            for view, urls in views.items():
                before = {s: cpu_s(p) for s, p in pids.items()}
                for _ in range(CALLS):
                    answers = await asyncio.gather(*(client.get(u) for u in urls))
                    assert all(a.status_code == 200 for a in answers)
                used = {s: (cpu_s(p) - before[s]) / CALLS * 1000 for s, p in pids.items()}
                print(
                    f"{view}: {len(urls)} requests a round; server CPU a round: "
                    f"goals {used['goals']:.1f} ms, metrics {used['metrics']:.1f} ms"
                )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
