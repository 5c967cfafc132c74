"""The tree is the architecture: three services of one shape. The import rules between and
inside them (pure domains, routes → services → repositories, shared importing no service,
services never importing each other) are import-linter contracts in `.importlinter`, run by
scripts/test.sh; this checks what import-linter cannot: that every service has the same parts."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "app.py").exists())
FILES = ("app.py", "settings.py", "tables.py", "schemas.py", "mappers.py", "handlers.py")
FILES += ("deps.py", "errors.py")
PACKAGES = ("domain", "repository", "service", "routes", "migrations")


def test_there_are_three_services() -> None:
    assert SERVICES == ["alerts", "goals", "metrics"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_shape(service: str) -> None:
    folder = ROOT / "services" / service
    for name in FILES:
        assert (folder / name).is_file(), f"services/{service} lacks {name}"
    for name in PACKAGES:
        assert (folder / name).is_dir(), f"services/{service} lacks {name}/"
    for flat in ("repository.py", "service.py"):
        assert not (folder / flat).exists(), f"services/{service}/{flat}: a package, by resource"


def test_services_run_their_background_loops_as_singletons() -> None:
    """A loop a service starts runs in one replica at a time (`Runtime.singleton`, leader
    election on PostgreSQL); one started on the supervisor directly would run in every
    replica (two webhook senders post a delivery twice)."""
    direct = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "services").rglob("*.py")
        if "supervisor.start(" in path.read_text()
    ]
    assert direct == []
