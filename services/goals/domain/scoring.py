"""Scores at the close of a cycle (DESIGN.md "Score at close") and the retrospective outcome.

Pure: a KR's suggested score comes from its clamped progress when the cycle closes; a person
may override any score with a note; an objective's outcome compares its score with the
"stretch met" line of its commitment.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from services.goals.domain.progress import (
    KeyResultSpec,
    KrKind,
    bound_holds,
    clamp01,
    progress,
    weighted_mean,
)


class Commitment(StrEnum):
    COMMITTED = "committed"
    ASPIRATIONAL = "aspirational"


class Outcome(StrEnum):
    ACHIEVED = "achieved"
    MISSED = "missed"
    CARRIED_OVER = "carried_over"


STRETCH_LINE = {Commitment.COMMITTED: 1.0, Commitment.ASPIRATIONAL: 0.7}
"""The score from which an objective counts as met: 0.7 for aspirational, 1.0 for committed."""


def suggested_kr_score(kr: KeyResultSpec) -> float:
    """The suggested 0.0-1.0 score of a KR at close, rounded to 2 places.

    INCREASE/DECREASE: the clamped progress (over-achievement scores 1.0). Bound kinds: 1.0
    when the bound holds at close, else 0.0 (also 0.0 with no value at all). Milestone: 1.0
    when done, else 0.0.
    """
    if kr.kind is KrKind.MILESTONE:
        return 1.0 if kr.done else 0.0
    if kr.kind in (KrKind.KEEP_ABOVE, KrKind.KEEP_BELOW, KrKind.KEEP_BETWEEN):
        return 1.0 if bound_holds(kr) else 0.0
    return round(progress(kr), 2)


def objective_score(scores: Sequence[float], weights: Sequence[float]) -> float:
    """An objective's suggested score: the weighted mean of its KRs' scores (overrides
    included), all weights zero → plain mean, no KRs → 0.0; rounded to 2 places."""
    return round(clamp01(weighted_mean([clamp01(s) for s in scores], weights)), 2)


def validate_score(score: float) -> float:
    """A score a person sets must lie in 0.0-1.0 (inclusive)."""
    if not 0.0 <= score <= 1.0:
        raise ValueError("a score lies between 0.0 and 1.0")
    return score


def outcome(score: float, commitment: Commitment, *, carried_over: bool = False) -> Outcome:
    """Achieved when the score reaches the stretch line of the commitment (≥, inclusive);
    carried over when moved into the next cycle without being achieved; else missed."""
    if score >= STRETCH_LINE[commitment]:
        return Outcome.ACHIEVED
    return Outcome.CARRIED_OVER if carried_over else Outcome.MISSED
