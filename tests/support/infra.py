"""Start the real Kafka broker and PostgreSQL server through the project's own scripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script(path: str, command: str) -> str:
    done = subprocess.run(
        ["bash", str(ROOT / path), command], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{path} {command} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def kafka_bootstrap() -> str:
    """The bootstrap address of the project's broker, started if it is not running."""
    return _script("deploy/kafka/kafka.sh", "start")


def postgres_url() -> str:
    """The SQLAlchemy URL of the project's PostgreSQL server, installed and started if needed."""
    return _script("deploy/postgres/postgres.sh", "start")
