"""The three services as separate uvicorn processes, as users run them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.settings import Topics
from tests.support.apps import TEST_SECRET_KEY
from tests.support.infra import ROOT
from tests.support.kafka import grant_deployment, passwords

SERVICES = ("goals", "metrics", "alerts")


def sqlite_urls(directory: Path | str) -> dict[str, str]:
    """Each service's SQLite database, in `directory`."""
    return {name: f"sqlite+aiosqlite:///{directory}/{name}.db" for name in SERVICES}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM (graceful: drain, commit, stop), SIGKILL if it overstays."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """`kill -9`: no drain, no commit, no goodbye; whatever was in flight is cut off."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP: the process stops where it is (a SIGKILL later cuts it off right there)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def restart(self) -> None:
        """Start the same command again, on the same port and database; the log goes on."""
        if self.process.poll() is None:
            raise RuntimeError(f"{self.name} is still running")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )


@dataclass
class Platform:
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.services[name].url


def start_service(
    name: str,
    *,
    port: int,
    env: dict[str, str],
    database_url: str,
    log_dir: Path,
    log_name: str | None = None,
) -> ServiceProcess:
    url = f"http://127.0.0.1:{port}"
    log = log_dir / f"{log_name or name}.log"
    command = [
        sys.executable, "-m", "uvicorn", f"services.{name}.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    child_env = {**os.environ, **env, "LODESTAR_DATABASE_URL": database_url,
                 "LODESTAR_PUBLIC_URL": url}  # fmt: skip
    with log.open("wb") as out:  # the child keeps its own descriptor
        process = subprocess.Popen(
            command, cwd=ROOT, env=child_env, stdout=out, stderr=subprocess.STDOUT
        )
    return ServiceProcess(name, url, process, log, command, child_env)


def wait_ready(service: ServiceProcess, timeout_s: float = 180.0) -> None:
    """Wait for `/readyz`; generous: three services importing at once on a loaded 2-core
    machine took over a minute."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited:\n{service.log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{service.name} not ready:\n{service.log.read_text()[-3000:]}")


def principal_env(bootstrap: str, topics: Topics, service: str) -> dict[str, str]:
    """The settings connecting `service` as its own principal, with the ACLs of the test's
    topics granted (`tests.support.kafka.grant_deployment`)."""
    grant_deployment(bootstrap, topics)
    return {
        "LODESTAR_KAFKA_USERNAME": service,
        "LODESTAR_KAFKA_PASSWORD": passwords(bootstrap)[service],
    }


def producer_env(bootstrap: str, user: str = "producer") -> dict[str, str]:
    """The settings of an external producer (`scripts/demo.py`), allowed kpi.measurements."""
    return {"LODESTAR_KAFKA_USERNAME": user, "LODESTAR_KAFKA_PASSWORD": passwords(bootstrap)[user]}


@contextlib.contextmanager
def platform(
    *,
    bootstrap: str,
    topics: Topics,
    admin_key: str,
    database_urls: dict[str, str],
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
    services: Sequence[str] = SERVICES,
) -> Iterator[Platform]:
    """Start goals, metrics and alerts (or those of `services`) as processes on one broker;
    stop them on exit. Each connects as its own principal, with the ACLs of the test's topics
    granted; metrics takes measurements without a tenant proof unless `extra_env` sets
    LODESTAR_INGEST_REQUIRE_PROOF (most tests produce raw records, `shared.ingest_proof`)."""
    ports = {name: free_port() for name in SERVICES}
    env = _platform_env(bootstrap, topics, admin_key, ports, extra_env)
    running = Platform()
    try:
        for name in services:
            running.services[name] = start_service(
                name,
                port=ports[name],
                env={**env, **principal_env(bootstrap, topics, name)},
                database_url=database_urls[name],
                log_dir=log_dir,
            )
        for service in running.services.values():
            wait_ready(service)
        yield running
    finally:
        for service in running.services.values():
            service.stop()


def _platform_env(
    bootstrap: str,
    topics: Topics,
    admin_key: str,
    ports: dict[str, int],
    extra_env: dict[str, str] | None,
) -> dict[str, str]:
    env = {
        "LODESTAR_KAFKA_BOOTSTRAP": bootstrap,
        "LODESTAR_INGEST_REQUIRE_PROOF": "false",
        "LODESTAR_TOPICS__PREFIX": topics.prefix,
        "LODESTAR_BOOTSTRAP_TENANT": "acme",
        "LODESTAR_BOOTSTRAP_ADMIN_KEY": admin_key,
        "LODESTAR_SECRET_KEY": TEST_SECRET_KEY,
        "LODESTAR_WEBHOOK_ALLOW_PRIVATE": "true",  # the tests' receivers are on 127.0.0.1
        "LODESTAR_RATE_LIMIT_BURST": "1000000",  # one key driven hard; tested on its own
        "LODESTAR_CONSUMER_POLL_TIMEOUT_MS": "50",
        **(extra_env or {}),
    }
    # Each service links to the others (e.g. an alert's generatorURL to its KPI in metrics).
    env.update(
        {f"LODESTAR_{name.upper()}_URL": f"http://127.0.0.1:{p}" for name, p in ports.items()}
    )
    return env


@dataclass
class Replicated:
    """`replicas` processes of each service, each on its own port, one database per service."""

    services: dict[str, list[ServiceProcess]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        """The URL of a running replica of `name` (the first one alive)."""
        for replica in self.services[name]:
            if replica.process.poll() is None:
                return replica.url
        raise RuntimeError(f"no replica of {name} is running")

    def all(self) -> list[ServiceProcess]:
        return [replica for group in self.services.values() for replica in group]


@contextlib.contextmanager
def replicated_platform(
    *,
    bootstrap: str,
    topics: Topics,
    admin_key: str,
    database_urls: dict[str, str],
    log_dir: Path,
    replicas: int = 2,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Replicated]:
    """Start `replicas` processes of each service at once (all of them migrating the empty
    databases together), wait until every one is ready; stop them on exit. Logs go to
    `<service>-<i>.log`; the services link to each other's replica 0."""
    ports = {name: [free_port() for _ in range(replicas)] for name in SERVICES}
    env = _platform_env(
        bootstrap, topics, admin_key, {n: p[0] for n, p in ports.items()}, extra_env
    )
    running = Replicated()
    try:
        for name in SERVICES:
            running.services[name] = [
                start_service(
                    name,
                    port=port,
                    env={**env, **principal_env(bootstrap, topics, name)},
                    database_url=database_urls[name],
                    log_dir=log_dir,
                    log_name=f"{name}-{i}",
                )
                for i, port in enumerate(ports[name])
            ]
        for service in running.all():
            wait_ready(service)
        yield running
    finally:
        for service in running.all():
            service.stop()
