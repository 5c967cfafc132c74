"""The ingest hot path: a batch of decoded measurement events stored in one transaction.

    refuse unknown tenants and KPIs → insert new points (idempotent on tenant, source, id)
    → roll up only the points this batch newly inserted (in SQL) → apply the batch's
    corrections, if any (restatements and retractions: the slow path of `corrections.py`,
    which recomputes each period they touch from its points) → one `kpi.values` outbox row
    per touched KPI period → commit

It bypasses the ORM for each engine's fastest honest means: on SQLite, raw `executemany` in one
dedicated thread (the event loop keeps fetching and decoding the next batch meanwhile); on
PostgreSQL, COPY into a temporary staging table and one statement. Both write the same tables
the ORM reads.

This package is the one reasoned exception to "all SQL lives in `repository/`": it is an
adapter whose SQL is its speed (multi-row statements sized for the GIL, COPY, one round trip
per step), written against the driver connections it owns, not an `AsyncSession`. Keep each
statement next to the code that sizes and runs it; the ORM's queries stay in `repository/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.inbound import Inbound, Rejection


class MeasurementWriter(Protocol):
    async def store(self, batch: Sequence[Inbound]) -> list[Rejection]:
        """Store a batch in one committed transaction; return the records refused."""
        ...

    async def close(self) -> None: ...
