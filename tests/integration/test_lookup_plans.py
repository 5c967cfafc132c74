"""Every lookup the consumers run per batch (`shared.sql.KeyLookup.fetch`) searches each key
by an index of its key on SQLite: the keys' JSON array is the outer loop and the table is
searched once per key, never scanned, nor searched by the index of one of the query's
filters (e.g. the alerts' `state`), which a plain join let SQLite's planner choose. On each
service's schema as its migrations build it; the plans are SQLite's own
(`EXPLAIN QUERY PLAN`)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy.dialects import sqlite

from services.alerts.repository import alerts, guardrails, kpi_periods
from services.goals.repository import key_results, kpi_links, objectives
from shared.db import Database
from shared.migrations import upgrade
from shared.sql import KeyLookup

ROOT = Path(__file__).resolve().parents[2]
REPOSITORIES = {
    "alerts": (alerts, guardrails, kpi_periods),
    "goals": (key_results, kpi_links, objectives),
}


def lookups(modules: tuple[ModuleType, ...]) -> list[tuple[str, KeyLookup]]:
    found = [
        (f"{module.__name__}.{name}", value)
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, KeyLookup)
    ]
    assert found
    return found


@pytest.mark.parametrize("service", sorted(REPOSITORIES))
async def test_each_key_is_searched_by_an_index_of_the_key(service: str, tmp_path: Path) -> None:
    path = tmp_path / f"{service}.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db, ROOT / "services" / service / "migrations")
    await db.dispose()
    with sqlite3.connect(path) as conn:
        for name, lookup in lookups(REPOSITORIES[service]):
            compiled = lookup.fetch_statement("sqlite").compile(dialect=sqlite.dialect())
            params = ["[]", *(compiled.params[p] for p in (compiled.positiontup or ())[1:])]
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled}", params)]
            assert len(plan) == 2, (name, plan)
            assert plan[0].startswith("SCAN keys"), (name, plan)
            searched = re.fullmatch(r"SEARCH \w+ USING (?:COVERING )?INDEX \w+ \((.*)\)", plan[1])
            assert searched is not None, (name, plan)
            by = {term.split("=")[0] for term in searched.group(1).split(" AND ")}
            assert by & (set(lookup.names) - {"tenant"}), (name, plan)
