"""The progress, pace and status rules of DESIGN.md, one behaviour per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.goals.domain.alignment import creates_cycle
from services.goals.domain.progress import (
    KeyResultSpec,
    KrKind,
    Status,
    Thresholds,
    definition_error,
    expected,
    objective_progress,
    objective_status,
    progress,
    raw_progress,
    rollup_progress,
    rollup_status,
    status,
    team_progress,
    weighted_mean,
)

T0 = datetime(2026, 10, 1, tzinfo=UTC)
T100 = T0 + timedelta(days=100)


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def inc(current: float | None, start: float = 0.0, target: float = 100.0) -> KeyResultSpec:
    return KeyResultSpec(KrKind.INCREASE, start=start, target=target, current=current)


def dec(current: float | None, start: float = 10.0, target: float = 2.0) -> KeyResultSpec:
    return KeyResultSpec(KrKind.DECREASE, start=start, target=target, current=current)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


class TestIncrease:
    def test_progress_is_the_share_of_the_distance(self) -> None:
        assert progress(inc(40.0)) == pytest.approx(0.4)

    def test_starting_above_zero(self) -> None:
        assert progress(inc(30.0, start=20.0, target=70.0)) == pytest.approx(0.2)

    def test_no_value_yet_is_the_start(self) -> None:
        assert raw_progress(inc(None)) == 0.0

    def test_over_achievement_is_clamped_but_raw_shows_it(self) -> None:
        kr = inc(125.0)
        assert progress(kr) == 1.0
        assert raw_progress(kr) == pytest.approx(1.25)

    def test_going_backwards_is_clamped_to_zero(self) -> None:
        kr = inc(-20.0)
        assert progress(kr) == 0.0
        assert raw_progress(kr) == pytest.approx(-0.2)

    def test_target_equal_to_start_is_refused(self) -> None:
        with pytest.raises(ValueError, match="differ"):
            raw_progress(inc(5.0, start=5.0, target=5.0))


class TestDecrease:
    def test_progress_runs_the_right_way_round(self) -> None:
        # churn from 10 % down to 2 %: at 6 % half the way is done
        assert progress(dec(6.0)) == pytest.approx(0.5)

    def test_rising_is_no_progress(self) -> None:
        assert progress(dec(12.0)) == 0.0
        assert raw_progress(dec(12.0)) == pytest.approx(-0.25)

    def test_beating_the_target_is_over_achievement(self) -> None:
        assert raw_progress(dec(0.0)) == pytest.approx(1.25)
        assert progress(dec(0.0)) == 1.0

    @given(start=finite, distance=st.floats(0.001, 1e6), share=st.floats(-2, 3))
    def test_mirror_of_increase(self, start: float, distance: float, share: float) -> None:
        up = inc(start + share * distance, start=start, target=start + distance)
        down = dec(start - share * distance, start=start, target=start - distance)
        assert raw_progress(up) == pytest.approx(raw_progress(down), abs=1e-6)


@given(current=finite, start=finite, target=finite)
def test_clamped_progress_always_lies_in_0_1(current: float, start: float, target: float) -> None:
    if start == target:
        return
    kind = KrKind.INCREASE if target > start else KrKind.DECREASE
    kr = KeyResultSpec(kind, start=start, target=target, current=current)
    assert 0.0 <= progress(kr) <= 1.0
    if 0.0 <= raw_progress(kr) <= 1.0:
        assert progress(kr) == raw_progress(kr)


class TestBounds:
    @pytest.mark.parametrize(
        ("kind", "current", "holds"),
        [
            (KrKind.KEEP_ABOVE, 95.0, True),
            (KrKind.KEEP_ABOVE, 99.9, True),  # the bound itself holds: >= is inclusive
            (KrKind.KEEP_ABOVE, 99.8, False),
            (KrKind.KEEP_BELOW, 99.9, True),  # <= is inclusive
            (KrKind.KEEP_BELOW, 99.91, False),
            (KrKind.KEEP_BELOW, 10.0, True),
        ],
    )
    def test_keep_above_and_below_are_inclusive(
        self, kind: KrKind, current: float, holds: bool
    ) -> None:
        target = 95.0 if kind is KrKind.KEEP_ABOVE and current == 95.0 else 99.9
        kr = KeyResultSpec(kind, target=target, current=current)
        assert progress(kr) == (1.0 if holds else 0.0)

    @pytest.mark.parametrize(
        ("current", "holds"), [(1.0, True), (3.0, True), (2.0, True), (0.99, False), (3.01, False)]
    )
    def test_keep_between_includes_both_bounds(self, current: float, holds: bool) -> None:
        kr = KeyResultSpec(KrKind.KEEP_BETWEEN, bound_low=1.0, bound_high=3.0, current=current)
        assert raw_progress(kr) == (1.0 if holds else 0.0)

    def test_no_value_yet_is_not_started(self) -> None:
        kr = KeyResultSpec(KrKind.KEEP_ABOVE, target=5.0)
        assert progress(kr) == 0.0
        assert status(kr, T0, T100, at(50)) is Status.NOT_STARTED

    def test_on_track_while_holding_off_track_when_not(self) -> None:
        holding = KeyResultSpec(KrKind.KEEP_BELOW, target=200.0, current=180.0)
        broken = KeyResultSpec(KrKind.KEEP_BELOW, target=200.0, current=250.0)
        assert status(holding, T0, T100, at(50)) is Status.ON_TRACK
        assert status(broken, T0, T100, at(50)) is Status.OFF_TRACK

    def test_achieved_only_when_the_cycle_closes_holding(self) -> None:
        kr = KeyResultSpec(KrKind.KEEP_ABOVE, target=5.0, current=6.0)
        assert status(kr, T0, T100, at(99)) is Status.ON_TRACK
        assert status(kr, T0, T100, at(100), closed=True) is Status.ACHIEVED
        broken = KeyResultSpec(KrKind.KEEP_ABOVE, target=5.0, current=4.0)
        assert status(broken, T0, T100, at(100), closed=True) is Status.OFF_TRACK


class TestMilestone:
    def test_not_started_until_done_then_achieved(self) -> None:
        todo = KeyResultSpec(KrKind.MILESTONE)
        done = KeyResultSpec(KrKind.MILESTONE, done=True)
        assert progress(todo) == 0.0
        assert progress(done) == 1.0
        assert status(todo, T0, T100, at(90)) is Status.NOT_STARTED
        assert status(done, T0, T100, at(1)) is Status.ACHIEVED


class TestExpected:
    def test_linear_share_of_the_window(self) -> None:
        assert expected(T0, T100, at(25)) == pytest.approx(0.25)

    def test_before_and_after_the_window(self) -> None:
        assert expected(T0, T100, at(-5)) == 0.0
        assert expected(T0, T100, at(150)) == 1.0

    def test_zero_length_window_is_a_step_at_its_end(self) -> None:
        assert expected(T0, T0, at(-1)) == 0.0
        assert expected(T0, T0, T0) == 1.0
        assert expected(T0, T0, at(1)) == 1.0

    @given(st.floats(-50, 150))
    def test_always_between_0_and_1(self, day: float) -> None:
        assert 0.0 <= expected(T0, T100, at(day)) <= 1.0


class TestStatusFromPace:
    @pytest.mark.parametrize(
        ("current", "day", "want"),
        [
            (35.0, 50, Status.ON_TRACK),  # 0.35 >= 0.7 x 0.5
            (34.0, 50, Status.AT_RISK),  # below 0.35, at least 0.25
            (25.0, 50, Status.AT_RISK),  # 0.5 x 0.5 is at risk, inclusive
            (24.0, 50, Status.OFF_TRACK),
            (100.0, 50, Status.ACHIEVED),
            (130.0, 5, Status.ACHIEVED),  # achieved beats "too early"
            (0.0, 9, Status.NOT_STARTED),  # first 10 % of the window: too early to judge
            (0.0, 10, Status.OFF_TRACK),  # from 10 % on, judged
            (0.0, -3, Status.NOT_STARTED),  # before the window opens
        ],
    )
    def test_default_thresholds(self, current: float, day: float, want: Status) -> None:
        assert status(inc(current), T0, T100, at(day)) is want

    def test_no_value_yet_is_not_started_until_the_close(self) -> None:
        assert status(inc(None), T0, T100, at(60)) is Status.NOT_STARTED
        assert status(inc(None), T0, T100, at(100), closed=True) is Status.OFF_TRACK

    def test_decreasing_kr_uses_the_same_pace(self) -> None:
        # 10 → 2; at day 50 expected 0.5; current 7 is 3/8 = 0.375 done ≥ 0.35: on track
        assert status(dec(7.0), T0, T100, at(50)) is Status.ON_TRACK
        assert status(dec(9.0), T0, T100, at(50)) is Status.OFF_TRACK

    def test_thresholds_are_settings(self) -> None:
        strict = Thresholds(on_track=0.9, at_risk=0.8, too_early=0.0)
        assert status(inc(40.0), T0, T100, at(50), thresholds=strict) is Status.AT_RISK
        assert status(inc(0.0), T0, T100, at(1), thresholds=strict) is Status.OFF_TRACK

    def test_short_of_target_when_closed_is_off_track(self) -> None:
        assert status(inc(90.0), T0, T100, at(100), closed=True) is Status.OFF_TRACK

    def test_zero_length_window_has_no_too_early_phase(self) -> None:
        assert status(inc(0.0), T0, T0, at(-1)) is Status.NOT_STARTED
        assert status(inc(50.0), T0, T0, T0) is Status.AT_RISK
        assert status(inc(100.0), T0, T0, T0) is Status.ACHIEVED

    def test_stale_is_never_shown_as_on_track(self) -> None:
        assert status(inc(90.0), T0, T100, at(50), stale=True) is Status.STALE
        holding = KeyResultSpec(KrKind.KEEP_ABOVE, target=1.0, current=2.0)
        assert status(holding, T0, T100, at(50), stale=True) is Status.STALE
        assert status(inc(100.0), T0, T100, at(50), stale=True) is Status.ACHIEVED

    @given(current=st.floats(-50, 200), day=st.floats(-10, 110))
    def test_more_progress_never_judges_worse(self, current: float, day: float) -> None:
        order = [Status.OFF_TRACK, Status.AT_RISK, Status.ON_TRACK, Status.ACHIEVED]
        now = status(inc(current), T0, T100, at(day))
        better = status(inc(current + 10), T0, T100, at(day))
        if now is Status.NOT_STARTED:
            return
        assert order.index(better) >= order.index(now)


class TestWeights:
    def test_weighted_mean(self) -> None:
        assert weighted_mean([1.0, 0.0], [3.0, 1.0]) == pytest.approx(0.75)

    def test_all_zero_weights_fall_back_to_the_plain_mean(self) -> None:
        assert weighted_mean([1.0, 0.0, 0.5], [0.0, 0.0, 0.0]) == pytest.approx(0.5)

    def test_no_values(self) -> None:
        assert weighted_mean([], []) == 0.0

    def test_negative_weight_refused(self) -> None:
        with pytest.raises(ValueError, match="non-negative"):
            weighted_mean([1.0], [-1.0])

    def test_objective_progress_uses_clamped_kr_progress(self) -> None:
        # an over-achieved KR (1.25 raw) counts as 1.0, not more
        assert objective_progress([1.25, 0.0], [1.0, 1.0]) == pytest.approx(0.5)

    def test_tiny_weights_do_not_underflow(self) -> None:
        # found by hypothesis: 0.5 * 5e-324 is 0.0, so the mean came out 0.0
        assert objective_progress([0.5], [5e-324]) == 0.5
        assert objective_progress([0.5, 1.0], [5e-324, 5e-324]) == pytest.approx(0.75)

    @given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 100)), min_size=1, max_size=8))
    def test_objective_progress_lies_between_its_krs(
        self, pairs: list[tuple[float, float]]
    ) -> None:
        values = [v for v, _ in pairs]
        weights = [w for _, w in pairs]
        result = objective_progress(values, weights)
        assert min(values) - 1e-9 <= result <= max(values) + 1e-9


class TestObjectiveStatus:
    def test_weakest_kr_wins(self) -> None:
        got = objective_status([Status.ON_TRACK, Status.AT_RISK, Status.ACHIEVED])
        assert got is Status.AT_RISK
        assert objective_status([Status.AT_RISK, Status.OFF_TRACK]) is Status.OFF_TRACK

    def test_not_started_krs_are_not_judged(self) -> None:
        assert objective_status([Status.ON_TRACK, Status.NOT_STARTED]) is Status.ON_TRACK

    def test_achieved_only_when_every_kr_is(self) -> None:
        assert objective_status([Status.ACHIEVED, Status.NOT_STARTED]) is Status.ON_TRACK
        assert objective_status([Status.ACHIEVED, Status.ACHIEVED]) is Status.ACHIEVED

    def test_nothing_judged(self) -> None:
        assert objective_status([]) is Status.NOT_STARTED
        assert objective_status([Status.NOT_STARTED]) is Status.NOT_STARTED

    def test_stale_is_weaker_than_at_risk(self) -> None:
        assert objective_status([Status.AT_RISK, Status.STALE]) is Status.STALE


class TestRollUp:
    def test_leaf_shows_its_own_progress(self) -> None:
        assert rollup_progress(0.4, []) == pytest.approx(0.4)

    def test_parent_without_krs_is_the_mean_of_its_children(self) -> None:
        assert rollup_progress(None, [0.2, 0.6]) == pytest.approx(0.4)

    def test_parent_with_krs_counts_itself_once(self) -> None:
        assert rollup_progress(1.0, [0.0, 0.5]) == pytest.approx(0.5)

    def test_nothing_at_all(self) -> None:
        assert rollup_progress(None, []) == 0.0

    def test_status_includes_children(self) -> None:
        assert rollup_status(Status.ON_TRACK, [Status.OFF_TRACK]) is Status.OFF_TRACK
        assert rollup_status(None, [Status.ON_TRACK, Status.AT_RISK]) is Status.AT_RISK

    def test_team_progress_is_the_mean_of_its_objectives(self) -> None:
        assert team_progress([0.2, 0.4, 0.9]) == pytest.approx(0.5)
        assert team_progress([]) == 0.0


class TestDefinitions:
    @pytest.mark.parametrize(
        ("kr", "fragment"),
        [
            (KeyResultSpec(KrKind.INCREASE, start=5.0, target=5.0), "differ"),
            (KeyResultSpec(KrKind.DECREASE, start=5.0, target=5.0), "differ"),
            (KeyResultSpec(KrKind.INCREASE, start=5.0, target=1.0), "target > start"),
            (KeyResultSpec(KrKind.DECREASE, start=1.0, target=5.0), "target < start"),
            (KeyResultSpec(KrKind.INCREASE, start=1.0), "needs start and target"),
            (KeyResultSpec(KrKind.KEEP_ABOVE), "needs target"),
            (KeyResultSpec(KrKind.KEEP_BETWEEN, bound_low=3.0, bound_high=1.0), "exceed"),
            (KeyResultSpec(KrKind.KEEP_BETWEEN, bound_low=1.0), "needs bound_low"),
            (KeyResultSpec(KrKind.MILESTONE, target=1.0), "no numbers"),
        ],
    )
    def test_nonsense_is_explained(self, kr: KeyResultSpec, fragment: str) -> None:
        error = definition_error(kr)
        assert error is not None
        assert fragment in error

    @pytest.mark.parametrize(
        "kr",
        [
            KeyResultSpec(KrKind.INCREASE, start=0.0, target=1.0),
            KeyResultSpec(KrKind.DECREASE, start=1.0, target=0.0),
            KeyResultSpec(KrKind.KEEP_BELOW, target=3.0),
            KeyResultSpec(KrKind.KEEP_BETWEEN, bound_low=2.0, bound_high=2.0),
            KeyResultSpec(KrKind.MILESTONE),
        ],
    )
    def test_sound_definitions_pass(self, kr: KeyResultSpec) -> None:
        assert definition_error(kr) is None


class TestAlignmentLoops:
    links = {"company": None, "sales": "company", "emea": "sales"}

    def test_moving_under_a_descendant_is_a_loop(self) -> None:
        assert creates_cycle("company", "emea", self.links.get)

    def test_own_parent_is_a_loop(self) -> None:
        assert creates_cycle("sales", "sales", self.links.get)

    def test_sideways_is_fine(self) -> None:
        assert not creates_cycle("emea", "company", self.links.get)
        assert not creates_cycle("new", "emea", self.links.get)
        assert not creates_cycle("emea", None, self.links.get)
