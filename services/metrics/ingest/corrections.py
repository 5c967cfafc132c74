"""The slow path of `kpi.measurements`: restatements and retractions, and the exact
recomputation of every period they touch.

A correction changes a stored point in place (`tables.Measurement`): a restatement (a
measurement whose `revision` is above the stored one's) replaces what the point says, a
retraction marks it retracted. Either is idempotent (an equal or lower revision, or a second
retraction, finds nothing to do), and retraction is final: a retracted point stays retracted
whatever revision of it comes later. A correction of a point not stored yet stores it: a
restatement as the point (revision 0, arriving later, is then a redelivery), a retraction as a
tombstone (value 0, retracted) so that the point, arriving later, is ignored by the hot path's
own deduplication. So the outcome does not depend on the order the events arrive in, and the
hot path (`INSERT OR IGNORE`, COPY) needs no change: a batch's new points go first, then its
corrections in order, which gives what applying them one by one would.

min, max and last cannot be taken back from an aggregate, so each touched period is computed
again from its stored points (`ix_measurements_period`) and its rollup replaced, with its
`revision` raised: the `kpi.value` event that follows carries it, and consumers order a
period's values by it first (a correction may lower the count). A period with no point left
keeps its rollup row with count 0 and the merge's neutral elements (`tables.Rollup`).

The logic is written once, as a generator of `(sql, params)` queries (qmark style) that is
sent each query's rows: the SQLite writer runs it on its thread's connection, the PostgreSQL
writer on asyncpg (`numbered` gives `$n` placeholders). One round trip per query is fine here:
corrections are rare, and each costs a handful of indexed statements.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from functools import lru_cache
from typing import Any

from services.metrics.ingest.rows import Correction, RollupKey, TouchedRollup

Query = tuple[str, tuple[Any, ...]]
Rows = Sequence[Sequence[Any]]
Steps = Generator[Query, Rows, list[TouchedRollup]]

POINT = "SELECT kpi, period_start, revision, retracted FROM measurements WHERE id = ?"

INSERT = """
INSERT INTO measurements (id, tenant, source, event_id, kpi, observed_at, period_start,
                          value, dimensions, revision, retracted)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

RESTATE = """
UPDATE measurements SET kpi = ?, observed_at = ?, period_start = ?, value = ?, dimensions = ?,
                        revision = ?
WHERE id = ?
"""

RETRACT = "UPDATE measurements SET retracted = TRUE WHERE id = ?"

_PERIOD = "tenant = ? AND kpi = ? AND period_start = ? AND NOT retracted"
AGGREGATE = (
    f"SELECT count(*), coalesce(sum(value), 0), min(value), max(value) FROM measurements "
    f"WHERE {_PERIOD}"
)
# The rule of `domain.rollups`: the latest observation, the larger value winning a tie.
LAST = (
    f"SELECT value, observed_at FROM measurements WHERE {_PERIOD} "
    "ORDER BY observed_at DESC, value DESC LIMIT 1"
)

ROLLUP_COLUMNS = "tenant, kpi, period_start, count, total, minimum, maximum, last_value, last_at"
REPLACE_ROLLUP = f"""
INSERT INTO rollups ({ROLLUP_COLUMNS}, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (tenant, kpi, period_start) DO UPDATE SET
    count = excluded.count,
    total = excluded.total,
    minimum = excluded.minimum,
    maximum = excluded.maximum,
    last_value = excluded.last_value,
    last_at = excluded.last_at,
    revision = rollups.revision + 1
RETURNING {ROLLUP_COLUMNS}, revision
"""

EMPTY = (0, 0.0, float("inf"), float("-inf"), 0.0, -1)
"""An emptied period's (count, total, min, max, last_value, last_at): what the hot path's
merge treats as no points at all."""


def apply(corrections: Sequence[Correction]) -> Steps:
    """Apply the corrections in order; then recompute each period whose points changed, and
    return those rollups as stored (one `kpi.value` event each)."""
    dirty: dict[RollupKey, None] = {}  # insertion-ordered set
    for c in corrections:
        found = yield POINT, (c.key,)
        if not found:
            yield (
                INSERT,
                (c.key, c.tenant, c.source, c.event_id, c.kpi, c.at, c.period_start,
                 c.value, c.dimensions, c.revision, c.retract),
            )  # fmt: skip
            if not c.retract:
                dirty[(c.tenant, c.kpi, c.period_start)] = None
            continue
        kpi, start, revision, retracted = found[0]
        if retracted:
            continue  # final
        if c.retract:
            yield RETRACT, (c.key,)
        elif c.revision > revision:
            yield (
                RESTATE,
                (c.kpi, c.at, c.period_start, c.value, c.dimensions, c.revision, c.key),
            )
            dirty[(c.tenant, c.kpi, c.period_start)] = None
        else:
            continue  # a redelivery, or an older revision than the stored one
        dirty[(c.tenant, kpi, int(start))] = None
    touched: list[TouchedRollup] = []
    for key in dirty:
        ((count, total, lo, hi),) = yield AGGREGATE, key
        if count:
            ((last_value, last_at),) = yield LAST, key
            values: tuple[Any, ...] = (count, total, lo, hi, last_value, last_at)
        else:
            values = EMPTY
        (row,) = yield REPLACE_ROLLUP, (*key, *values)
        touched.append(tuple(row))
    return touched


@lru_cache(maxsize=32)
def numbered(sql: str) -> str:
    """`sql` with its `?` placeholders as PostgreSQL's `$1`, `$2`, … (none of these
    statements holds a `?` anywhere else)."""
    counter = iter(range(1, 1000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


def superseded(merged: Sequence[TouchedRollup], recomputed: Sequence[TouchedRollup]) -> list[Any]:
    """The batch's touched rollups, one per period: a recomputed one (later, and from every
    point) in place of the hot path's merge of the same period."""
    final: dict[RollupKey, TouchedRollup] = {(r[0], r[1], r[2]): r for r in merged}
    final.update({(r[0], r[1], r[2]): r for r in recomputed})
    return list(final.values())
