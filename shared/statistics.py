"""The first statistics of a PostgreSQL table that fills from empty, taken as soon as it has
rows rather than a minute later.

Before a table's first ANALYZE, PostgreSQL's planner estimates every condition at one row.
Then an index that matches only `tenant` looks as good as the key, and a statement by key
(`WHERE tenant = $1 AND id = $2`, the shape of every tenant-scoped write here) may take it
and read every row of the tenant: on a new database at 1,000 measurements a second, the KR
and alert writes fell seconds behind for that first minute (`bench/e2e_latency.py --db
postgres`; the plans by auto_explain). Autovacuum takes the first statistics only at its
next visit of the database (`autovacuum_naptime`, one minute by default); this loop, one
replica's (`Runtime.singleton`), analyzes each table never analyzed once it holds
`min_rows` changes, which is soon enough for the plans and still a sample of more than a
handful of rows. After that first ANALYZE, autovacuum keeps the statistics (a table's
growth scales its estimates; a changed shape triggers its own re-analyze). SQLite has no
such planner gap (its planner prefers a unique key without statistics) and no loop."""

from __future__ import annotations

import structlog
from sqlalchemy import text

from shared.db import Database
from shared.supervisor import BackgroundLoop

log = structlog.get_logger(__name__)

_NEVER_ANALYZED = text(
    "SELECT relname FROM pg_stat_user_tables "
    "WHERE schemaname = current_schema() AND last_analyze IS NULL "
    "AND last_autoanalyze IS NULL AND n_mod_since_analyze >= :min_rows ORDER BY relname"
)


async def analyze_new_tables(db: Database, min_rows: int) -> list[str]:
    """ANALYZE every table of the database's schema that was never analyzed and has had at
    least `min_rows` rows written; returns their names."""
    async with db.engine.connect() as conn:
        names = list((await conn.execute(_NEVER_ANALYZED, {"min_rows": min_rows})).scalars())
        for name in names:
            await conn.execute(text(f"ANALYZE {conn.dialect.identifier_preparer.quote(name)}"))
        await conn.commit()
    return names


class FirstAnalyze(BackgroundLoop):
    """Runs `analyze_new_tables` every `interval_s` until told to stop."""

    def __init__(self, db: Database, *, interval_s: float = 2.0, min_rows: int = 100) -> None:
        super().__init__()
        self._db = db
        self._interval_s = interval_s
        self._min_rows = min_rows

    async def run(self) -> None:
        while not self.stopping:
            analyzed = await analyze_new_tables(self._db, self._min_rows)
            if analyzed:
                log.info("tables_analyzed", tables=analyzed)
            await self.pause(self._interval_s)
