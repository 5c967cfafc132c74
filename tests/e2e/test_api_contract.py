"""Each service's API keeps its OpenAPI contract under generated input (schemathesis): no 5xx,
answers, status codes, content types and headers as documented, invalid input refused.

Runs the schemathesis CLI against the three services as processes, with a fixed seed so a
failure reproduces. Business rules legitimately refuse some schema-valid input (an unknown KPI,
a closed cycle), so the 'positive data acceptance' check is left out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import Topics
from tests.support.processes import SERVICES, platform, sqlite_urls

pytestmark = pytest.mark.kafka

SCHEMATHESIS = Path(sys.executable).parent / "st"
RUN_TIMEOUT_S = 300  # per service


# Longer than the runs' own timeouts and the services' start-up, so those fire first.
@pytest.mark.timeout(len(SERVICES) * RUN_TIMEOUT_S + 300)
def test_every_service_keeps_its_openapi_contract(
    kafka_bootstrap: str, topics: Topics, admin_key: str, tmp_path: Path
) -> None:
    databases = sqlite_urls(tmp_path)
    with platform(bootstrap=kafka_bootstrap, topics=topics, admin_key=admin_key,
                  database_urls=databases, log_dir=tmp_path) as running:  # fmt: skip
        failures = []
        for name in SERVICES:
            command = [
                str(SCHEMATHESIS), "run", f"{running.url(name)}/openapi.json",
                "--header", f"Authorization: Bearer {admin_key}",
                "--checks", "all", "--exclude-checks", "positive_data_acceptance",
                "--phases", "examples,coverage,fuzzing",
                "--max-examples", "25", "--seed", "20261124", "--no-color",
            ]  # fmt: skip
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S,
                check=False,
            )
            if done.returncode != 0:
                failures.append(f"--- {name}\n{done.stdout[-6000:]}{done.stderr[-2000:]}")
        assert not failures, "\n".join(failures)
