"""A private Prometheus Alertmanager (the real binary, built by
`deploy/alertmanager/alertmanager.sh`) on a loopback port of its own, and the real amtool."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.infra import run_script


def binaries() -> Path:
    """The folder holding `alertmanager` and `amtool` (built once into the cache)."""
    return Path(run_script("deploy/alertmanager/alertmanager.sh", "bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateAlertmanager:
    """One Alertmanager whose receiver is a webhook to `receiver_url`, grouping by alertname
    and flushing within a second or two; `stop()` and `start()` again restart it on the same
    port and storage, as an operator's restart would."""

    def __init__(self, workdir: Path, receiver_url: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(
            json.dumps(
                {
                    "route": {
                        "receiver": "hook",
                        "group_by": ["alertname"],
                        "group_wait": "1s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [
                        {
                            "name": "hook",
                            "webhook_configs": [{"url": receiver_url, "send_resolved": True}],
                        }
                    ],
                }
            )
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            str(binaries() / "alertmanager"),
            f"--config.file={self.config}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]
        with (self.workdir / "alertmanager.log").open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self._process.poll() is None, (self.workdir / "alertmanager.log").read_text()
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("alertmanager did not become ready")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None

    def __enter__(self) -> PrivateAlertmanager:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def alerts(self) -> list[dict[str, Any]]:
        """What this Alertmanager holds as active (its own `GET /api/v2/alerts`)."""
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"{self.url}/api/v2/alerts")
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
        return found


async def amtool(url: str, http_config: Path, *args: str) -> str:
    """Run the real amtool against `url` with the Bearer key in `http_config`; its stdout, or
    AssertionError with its output if it failed."""
    process = await asyncio.create_subprocess_exec(
        str(binaries() / "amtool"),
        f"--alertmanager.url={url}",
        f"--http.config.file={http_config}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, f"amtool {' '.join(args)}: {out.decode()}{err.decode()}"
    return out.decode()


def bearer_config(path: Path, key: str) -> Path:
    """amtool's `--http.config.file` sending `Authorization: Bearer <key>` (YAML is JSON)."""
    path.write_text(json.dumps({"authorization": {"type": "Bearer", "credentials": key}}))
    return path
