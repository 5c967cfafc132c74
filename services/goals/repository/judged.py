"""Writing back what a partial re-evaluation judged (`service.evaluation.reevaluate_touched`):
one executemany UPDATE for the KRs and one for the objectives, by (tenant, id), on the driver's
connection (`shared.prepared`: no ORM objects loaded, none flushed, no parameters compiled per
row)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import Boolean, Table, bindparam, case, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.domain.states import KeyResultState, ObjectiveState
from services.goals.tables import KeyResult, Objective
from shared.prepared import Prepared
from shared.tables import UtcDateTime

_STATEMENTS: dict[tuple[str, tuple[str, ...]], Prepared] = {}  # (table, columns) → built once


def _statement(table: Table, names: tuple[str, ...]) -> Prepared:
    """UPDATE the columns `names` (bound as `v_<name>`) of the row (`w_tenant`, `w_id`), and
    its `updated_at` to `w_now` where `w_changed` (else left as it is)."""
    key = (table.name, names)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        moved = case(
            (bindparam("w_changed", type_=Boolean()), bindparam("w_now", type_=UtcDateTime())),
            else_=table.c.updated_at,
        )
        stmt = Prepared(
            update(table)
            .where(table.c.tenant == bindparam("w_tenant"), table.c.id == bindparam("w_id"))
            .values(
                {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in names}
                | {"updated_at": moved}
            )
        )
        _STATEMENTS[key] = stmt
    return stmt


async def _save(
    session: AsyncSession,
    table: Table,
    states: Iterable[tuple[str, KeyResultState | ObjectiveState]],
    names: Sequence[str],
    changed: Collection[str],
    now: datetime,
) -> None:
    rows = [
        {"w_tenant": tenant, "w_id": s.id, "w_changed": s.id in changed, "w_now": now}
        | {f"v_{name}": getattr(s, name) for name in names}
        for tenant, s in states
    ]
    await _statement(table, tuple(names)).executemany(session, rows)


async def save_key_results(
    session: AsyncSession,
    states: Iterable[tuple[str, KeyResultState]],
    names: Sequence[str],
    changed: Collection[str],
    now: datetime,
) -> None:
    """Write the columns `names` of each (tenant, KR); `updated_at` moves to `now` for those in
    `changed`."""
    table = KeyResult.__table__  # type: ignore[attr-defined]
    await _save(session, table, states, names, changed, now)


async def save_objectives(
    session: AsyncSession,
    states: Iterable[tuple[str, ObjectiveState]],
    names: Sequence[str],
    changed: Collection[str],
    now: datetime,
) -> None:
    """Write the columns `names` of each (tenant, objective); `updated_at` moves to `now` for
    those in `changed`."""
    table = Objective.__table__  # type: ignore[attr-defined]
    await _save(session, table, states, names, changed, now)
