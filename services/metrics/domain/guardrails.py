"""Graduation: a key result met long enough becomes its KPI's guardrail.

The KPI's green threshold becomes the KR's target (or the bound it held), and its direction
follows the KR: increase / keep above → higher is better, decrease / keep below → lower is
better; for keep-between the bound on the KPI's own side of better is kept. An amber threshold
survives only where it still lies on the far side of the new green; otherwise it is dropped, and
anything short of green is red.

A cumulative KR (`sum`, `count` over its window) arrives with its numbers already spread over
its window's periods by goals (`period_target`, ...): the KPI is judged per period, and a
period at the pace that met the KR is green.

Nothing of this is silent: the KPI records the bands and direction it had and those the
graduation applied (`GuardrailRead`), and removing the guardrail puts the previous ones back —
unless they were edited since, when the edit stands.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.metrics.domain.health import Direction


@dataclass(frozen=True, slots=True)
class Guardrail:
    direction: Direction
    green: float
    amber: float | None


def guardrail_from_kr(
    kind: str,
    target: float,
    bound_low: float | None,
    bound_high: float | None,
    direction: Direction,
    amber: float | None,
) -> Guardrail:
    """The KPI's new health bands from a graduated KR of `kind`."""
    if kind in ("increase", "keep_above"):
        direction, green = Direction.HIGHER, target
    elif kind in ("decrease", "keep_below"):
        direction, green = Direction.LOWER, target
    elif kind == "keep_between" and bound_low is not None and bound_high is not None:
        green = bound_low if direction is Direction.HIGHER else bound_high
    else:
        raise ValueError(f"a '{kind}' key result cannot become a guardrail")
    if amber is not None:
        still_beyond = amber < green if direction is Direction.HIGHER else amber > green
        amber = amber if still_beyond else None
    return Guardrail(direction, green, amber)


def pace_comparable(kr_aggregation: str | None, kpi_aggregation: str) -> bool:
    """Whether a per-period pace of a KR can be read against the KPI's period value: a `sum`
    KR adds period values, so its pace is in their unit; a `count` KR counts measurements,
    which only a KPI aggregated by `count` has as its value."""
    return kr_aggregation != "count" or kpi_aggregation == "count"


@dataclass(frozen=True, slots=True)
class KpiBands:
    """A KPI's direction and thresholds as they stand (green may be unset)."""

    direction: Direction
    green: float | None
    amber: float | None


def restored(current: KpiBands, previous: KpiBands, applied: KpiBands) -> KpiBands:
    """The bands a KPI keeps when its guardrail is removed: the ones it had before the
    graduation while it still holds those the graduation applied; an edit made since wins."""
    return previous if current == applied else current
