"""A graduated key result's target becomes its KPI's green threshold."""

from __future__ import annotations

import pytest

from services.metrics.domain.guardrails import (
    Guardrail,
    KpiBands,
    guardrail_from_kr,
    pace_comparable,
    restored,
)
from services.metrics.domain.health import Direction

H, L = Direction.HIGHER, Direction.LOWER


@pytest.mark.parametrize(
    ("kind", "target", "low", "high", "direction", "amber", "expected"),
    [
        ("increase", 250, None, None, H, 200, Guardrail(H, 250, 200)),
        ("increase", 250, None, None, H, 300, Guardrail(H, 250, None)),  # amber not below green
        ("keep_above", 99.5, None, None, L, None, Guardrail(H, 99.5, None)),  # direction follows
        ("decrease", 2.0, None, None, L, 3.5, Guardrail(L, 2.0, 3.5)),
        ("keep_below", 3.0, None, None, L, 2.5, Guardrail(L, 3.0, None)),  # amber not above
        ("keep_between", 0, 10, 20, H, 5, Guardrail(H, 10, 5)),
        ("keep_between", 0, 10, 20, L, 25, Guardrail(L, 20, 25)),
    ],
)
def test_bands_follow_the_key_result(
    kind: str,
    target: float,
    low: float | None,
    high: float | None,
    direction: Direction,
    amber: float | None,
    expected: Guardrail,
) -> None:
    assert guardrail_from_kr(kind, target, low, high, direction, amber) == expected


def test_a_milestone_cannot_become_a_guardrail() -> None:
    with pytest.raises(ValueError, match="milestone"):
        guardrail_from_kr("milestone", 1, None, None, H, None)


def test_removing_restores_the_previous_bands_unless_edited_since() -> None:
    previous, applied = KpiBands(L, 40.0, 30.0), KpiBands(H, 25.0, None)
    assert restored(applied, previous, applied) == previous
    edited = KpiBands(H, 26.0, None)
    assert restored(edited, previous, applied) == edited


def test_a_count_pace_guards_only_a_count_kpi() -> None:
    assert pace_comparable("sum", "avg")
    assert pace_comparable("sum", "count")
    assert pace_comparable("count", "count")
    assert not pace_comparable("count", "sum")
