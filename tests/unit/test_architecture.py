"""The tree is the architecture: pure domains, shared never importing services, services
never importing each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "app.py").exists())
IO_MODULES = {"fastapi", "starlette", "sqlalchemy", "sqlmodel", "aiokafka", "httpx", "asyncpg"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "migrations" not in p.parts)


def test_there_are_three_services() -> None:
    assert SERVICES == ["alerts", "goals", "metrics"]


@pytest.mark.parametrize("service", SERVICES)
def test_domain_is_pure(service: str) -> None:
    for path in python_files(ROOT / "services" / service / "domain"):
        io = {m for m in imported_modules(path) if m.split(".")[0] in IO_MODULES}
        assert not io, f"{path.relative_to(ROOT)} imports I/O: {sorted(io)}"


def test_shared_never_imports_services() -> None:
    for path in python_files(ROOT / "shared"):
        bad = {m for m in imported_modules(path) if m.split(".")[0] == "services"}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("service", SERVICES)
def test_services_do_not_import_each_other(service: str) -> None:
    others = {f"services.{s}" for s in SERVICES if s != service}
    for path in python_files(ROOT / "services" / service):
        bad = {m for m in imported_modules(path) if any(m.startswith(o) for o in others)}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_shape(service: str) -> None:
    folder = ROOT / "services" / service
    for part in (
        "app.py",
        "settings.py",
        "domain",
        "schemas.py",
        "routes",
        "deps.py",
        "errors.py",
        "migrations",
        "tables.py",
    ):
        assert (folder / part).exists(), f"services/{service} lacks {part}"
    for layer in ("repository", "service", "handlers"):
        assert (folder / f"{layer}.py").exists() or (folder / layer).is_dir(), (
            f"services/{service} lacks its {layer} layer"
        )
