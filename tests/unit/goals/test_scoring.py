"""Scores at close and the retrospective outcome."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.goals.domain.progress import KeyResultSpec, KrKind
from services.goals.domain.scoring import (
    Commitment,
    Outcome,
    objective_score,
    outcome,
    suggested_kr_score,
    validate_score,
)


class TestSuggestedScore:
    def test_numeric_kr_scores_its_clamped_progress(self) -> None:
        kr = KeyResultSpec(KrKind.INCREASE, start=0.0, target=3.0, current=2.0)
        assert suggested_kr_score(kr) == 0.67

    def test_over_achievement_scores_one(self) -> None:
        kr = KeyResultSpec(KrKind.DECREASE, start=10.0, target=5.0, current=1.0)
        assert suggested_kr_score(kr) == 1.0

    def test_bound_kr_scores_whether_it_held_at_close(self) -> None:
        held = KeyResultSpec(KrKind.KEEP_BETWEEN, bound_low=1.0, bound_high=2.0, current=2.0)
        broken = KeyResultSpec(KrKind.KEEP_ABOVE, target=1.0, current=0.5)
        unknown = KeyResultSpec(KrKind.KEEP_ABOVE, target=1.0)
        assert suggested_kr_score(held) == 1.0
        assert suggested_kr_score(broken) == 0.0
        assert suggested_kr_score(unknown) == 0.0

    def test_milestone_scores_done(self) -> None:
        assert suggested_kr_score(KeyResultSpec(KrKind.MILESTONE, done=True)) == 1.0
        assert suggested_kr_score(KeyResultSpec(KrKind.MILESTONE)) == 0.0

    @given(st.floats(-1e3, 1e3))
    def test_always_between_0_and_1(self, current: float) -> None:
        kr = KeyResultSpec(KrKind.INCREASE, start=0.0, target=10.0, current=current)
        assert 0.0 <= suggested_kr_score(kr) <= 1.0


class TestObjectiveScore:
    def test_weighted_mean_of_kr_scores(self) -> None:
        assert objective_score([1.0, 0.4], [1.0, 3.0]) == 0.55

    def test_all_zero_weights(self) -> None:
        assert objective_score([1.0, 0.0], [0.0, 0.0]) == 0.5

    def test_no_krs_scores_zero(self) -> None:
        assert objective_score([], []) == 0.0


class TestOutcome:
    @pytest.mark.parametrize(
        ("score", "commitment", "want"),
        [
            (0.7, Commitment.ASPIRATIONAL, Outcome.ACHIEVED),  # the stretch line is inclusive
            (0.69, Commitment.ASPIRATIONAL, Outcome.MISSED),
            (0.9, Commitment.COMMITTED, Outcome.MISSED),  # committed means all of it
            (1.0, Commitment.COMMITTED, Outcome.ACHIEVED),
        ],
    )
    def test_against_the_stretch_line(
        self, score: float, commitment: Commitment, want: Outcome
    ) -> None:
        assert outcome(score, commitment) is want

    def test_carried_over_when_moved_on_unmet(self) -> None:
        assert outcome(0.3, Commitment.COMMITTED, carried_over=True) is Outcome.CARRIED_OVER
        assert outcome(1.0, Commitment.COMMITTED, carried_over=True) is Outcome.ACHIEVED


def test_scores_out_of_range_are_refused() -> None:
    assert validate_score(0.0) == 0.0
    with pytest.raises(ValueError, match="between"):
        validate_score(1.01)
