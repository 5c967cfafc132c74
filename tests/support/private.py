"""A Kafka broker or a PostgreSQL cluster of a test's own, which the test may stop and start
again: its own LODESTAR_CACHE under the test's tmp_path (the Kafka jars are shared), so an
outage it causes disturbs no other test."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from tests.support.infra import ROOT, run_script
from tests.support.kafka import register_broker


def _shared_cache() -> Path:
    return Path(os.environ.get("LODESTAR_CACHE", ROOT / ".cache"))


class PrivateBroker:
    """A broker of this test's own (its own cache dir, ports and data; the jars shared)."""

    def __init__(self, cache: Path) -> None:
        (cache / "kafka").mkdir(parents=True)
        (cache / "kafka/lib").symlink_to(_shared_cache() / "kafka/lib")
        # A restart replays the log dir: on a loaded 2-core machine that took over 60 s.
        self._env = {
            "LODESTAR_KAFKA_START_TIMEOUT": "180",
            **os.environ,
            "LODESTAR_CACHE": str(cache),
        }

    def start(self) -> str:
        """Start it (the same address as last time while its ports are free); its address.
        It authenticates and authorises as the shared one does, with credentials of its own
        (`tests.support.kafka` finds them)."""
        bootstrap = run_script("deploy/kafka/kafka.sh", "start", env=self._env)
        return register_broker(bootstrap, self._env["LODESTAR_CACHE"])

    def stop(self) -> None:
        run_script("deploy/kafka/kafka.sh", "stop", env=self._env)

    def add_user(self, user: str) -> None:
        """`kafka.sh add-user`: a new user, or a new password for one (a rotation)."""
        run_script("deploy/kafka/kafka.sh", "add-user", env=self._env, args=[user])

    def remove_user(self, user: str) -> None:
        run_script("deploy/kafka/kafka.sh", "remove-user", env=self._env, args=[user])


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own, beside the shared one (`postgres.sh` keeps a
    cluster per LODESTAR_CACHE: its own data dir, lock and port)."""

    def __init__(self, cache: Path) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        self._cache = cache
        self._env = {**os.environ, "LODESTAR_CACHE": str(cache)}

    def start(self) -> str:
        """Start it (on the port of the last start while free); its SQLAlchemy URL."""
        return run_script("deploy/postgres/postgres.sh", "start", env=self._env)

    def stop(self) -> None:
        run_script("deploy/postgres/postgres.sh", "stop", env=self._env)

    def remove(self) -> None:
        """Stop it and delete its data. `postgres.sh` keeps the cluster in the cache, or in
        /tmp/lodestar-pg-<hash of the cache path> when the `postgres` user cannot reach the
        cache (a pytest tmp_path is 0700): both places are cleared."""
        self.stop()
        digest = hashlib.sha256(str(self._cache).encode()).hexdigest()[:16]
        shutil.rmtree(f"/tmp/lodestar-pg-{digest}", ignore_errors=True)
        shutil.rmtree(self._cache / "postgres", ignore_errors=True)
