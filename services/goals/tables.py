"""The goals service's tables: cycles, teams and members, objectives, key results, check-ins,
initiatives. Every row carries its tenant; every query filters on it.

Progress and status are stored as computed at the last change (what the last event said), so
lists can filter and sort on them.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Dialect, Index, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from services.goals.domain.totals import STATUSES, KrTotals
from shared.tables import UtcDateTime, infra_metadata


def new_id() -> str:
    """A new primary key: a random UUID, as text (36 characters)."""
    return str(uuid.uuid4())


class KrTotalsText(TypeDecorator[KrTotals]):
    """An objective's `KrTotals` as JSON text: its two sums are integers of a few hundred
    digits (units of 2**-1074), beyond any numeric column; NULL: not counted yet."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: KrTotals | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        statuses = {s.value: n for s, n in zip(STATUSES, value.statuses, strict=True) if n}
        return json.dumps(
            {
                "count": value.count,
                "weight_max": value.weight_max,
                "weights": value.weights,
                "terms": value.terms,
                "statuses": statuses,
            }
        )

    def process_result_value(self, value: Any, dialect: Dialect) -> KrTotals | None:
        if value is None:
            return None
        held = json.loads(value)
        return KrTotals(
            count=held["count"],
            weight_max=held["weight_max"],
            weights=held["weights"],
            terms=held["terms"],
            statuses=tuple(held["statuses"].get(s.value, 0) for s in STATUSES),
        )


class GoalsTable(SQLModel, registry=registry()):
    """Base of this service's tables: its own metadata, apart from the other services'."""


class Cycle(GoalsTable, table=True):
    """A named period; planning → active → closed."""

    __tablename__ = "cycles"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_cycles_tenant_name"),)

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    name: str = Field(max_length=100)
    starts_at: datetime = Field(sa_type=UtcDateTime)
    ends_at: datetime = Field(sa_type=UtcDateTime)
    state: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UtcDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Team(GoalsTable, table=True):
    """A node of the organisation: company → department → team."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_teams_tenant_name"),)

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(max_length=64, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    parent_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(sa_type=UtcDateTime)


class TeamMember(GoalsTable, table=True):
    __tablename__ = "team_members"

    tenant: str = Field(max_length=64)
    team_id: str = Field(primary_key=True, max_length=36)
    person: str = Field(primary_key=True, max_length=200)
    role: str = Field(default="member", max_length=16)
    added_at: datetime = Field(sa_type=UtcDateTime)


class Objective(GoalsTable, table=True):
    """Qualitative and time-bound; owned by a person or a team; aligned under a parent."""

    __tablename__ = "objectives"
    __table_args__ = (
        Index("ix_objectives_tenant_cycle", "tenant", "cycle_id"),
        Index("ix_objectives_tenant_parent", "tenant", "parent_id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    cycle_id: str = Field(max_length=36)
    title: str = Field(max_length=300)
    description: str = Field(default="")
    owner_type: str = Field(max_length=16)
    owner: str = Field(max_length=200)
    team_id: str | None = Field(default=None, max_length=36)
    level: str = Field(max_length=16)
    parent_id: str | None = Field(default=None, max_length=36)
    commitment: str = Field(max_length=16)
    state: str = Field(max_length=16)
    progress: float = 0.0
    status: str = Field(max_length=16)
    rollup_progress: float = 0.0
    rollup_status: str = Field(max_length=16)
    score: float | None = None
    score_note: str | None = None
    score_overridden: bool = False
    # What its own progress and status are made of (`domain.totals`), kept by every
    # re-evaluation: a batch of KPI values moves them by the KRs it touched.
    kr_totals: KrTotals | None = Field(default=None, sa_column=Column(KrTotalsText()))
    carried_from_id: str | None = Field(default=None, max_length=36)
    carried_to_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class KeyResult(GoalsTable, table=True):
    """Quantitative; see domain.progress for what each kind's numbers mean."""

    __tablename__ = "key_results"
    __table_args__ = (
        Index("ix_key_results_tenant_objective", "tenant", "objective_id"),
        Index("ix_key_results_tenant_kpi", "tenant", "kpi"),
    )

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    objective_id: str = Field(max_length=36)
    cycle_id: str = Field(max_length=36)
    title: str = Field(max_length=300)
    description: str = Field(default="")
    kind: str = Field(max_length=16)
    unit: str = Field(default="", max_length=32)
    start: float | None = None
    target: float | None = None
    bound_low: float | None = None
    bound_high: float | None = None
    current: float | None = None
    done: bool = False
    weight: float = 1.0
    owner: str | None = Field(default=None, max_length=200)
    starts_at: datetime = Field(sa_type=UtcDateTime)
    due_at: datetime = Field(sa_type=UtcDateTime)
    confidence: float | None = None
    kpi: str | None = Field(default=None, max_length=64)
    kpi_aggregation: str | None = Field(default=None, max_length=16)
    # What the link lookup learnt of the KPI: its period, and how long it may stay quiet
    # (its cadence, else its period's length) before the KR is stale.
    kpi_period: str | None = Field(default=None, max_length=16)
    kpi_cadence_s: int | None = None
    kpi_last_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    periods_met: int | None = None
    periods_elapsed: int | None = None
    graduation_periods: int | None = None
    # open, or graduated: closed as achieved once met for `graduation_periods` periods.
    state: str = Field(default="open", max_length=16)
    graduated_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    promoted_from_kpi: str | None = Field(default=None, max_length=64)
    promoted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    promoted_start: float | None = None
    progress: float = 0.0
    raw_progress: float = 0.0
    expected: float | None = None
    status: str = Field(max_length=16)
    score: float | None = None
    score_note: str | None = None
    score_overridden: bool = False
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class CheckIn(GoalsTable, table=True):
    """One entry of a KR's history: the value then, and what it made of the KR."""

    __tablename__ = "check_ins"
    __table_args__ = (Index("ix_check_ins_tenant_kr_time", "tenant", "key_result_id", "at"),)

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    key_result_id: str = Field(max_length=36)
    value: float | None = None
    done: bool | None = None
    confidence: float | None = None
    note: str = Field(default="")
    author: str = Field(max_length=200)
    source: str = Field(default="manual", max_length=16)
    at: datetime = Field(sa_type=UtcDateTime)
    progress: float
    raw_progress: float
    status: str = Field(max_length=16)


class KrKpiPeriod(GoalsTable, table=True):
    """One KPI period's value as a linked KR received it; a late or corrected value of the
    same period replaces the row, so the KR's window value is recomputed from the truth.
    `revision`: the period's corrections in metrics (`kpi.value` revision), first in the
    order that tells a newer value from an older one; a period emptied by retractions stays
    with count 0 (no data), so an older value of it re-published still loses."""

    __tablename__ = "kr_kpi_periods"

    tenant: str = Field(max_length=64)
    key_result_id: str = Field(primary_key=True, max_length=36)
    period_start: datetime = Field(primary_key=True, sa_type=UtcDateTime)
    period_end: datetime = Field(sa_type=UtcDateTime)
    value: float
    count: int
    last_value: float
    last_at: datetime = Field(sa_type=UtcDateTime)
    revision: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime = Field(sa_type=UtcDateTime)


class Initiative(GoalsTable, table=True):
    """The work (the "how") attached to a key result."""

    __tablename__ = "initiatives"
    __table_args__ = (Index("ix_initiatives_tenant_kr", "tenant", "key_result_id"),)

    id: str = Field(primary_key=True, max_length=36)
    tenant: str = Field(max_length=64)
    key_result_id: str = Field(max_length=36)
    title: str = Field(max_length=300)
    description: str = Field(default="")
    owner: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=16)
    due_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


metadata = [GoalsTable.metadata, infra_metadata]
