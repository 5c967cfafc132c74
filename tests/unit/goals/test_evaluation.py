"""Re-evaluating a cycle, as the pure function it is: states in, an outcome (the new states, what
changed, the events) out — no database, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.goals.domain.evaluation import (
    Change,
    CycleView,
    KeyResultState,
    KrGraduated,
    KrProgressed,
    ObjectiveChanged,
    ObjectiveState,
    Outcome,
    Policy,
    evaluate,
    kpi_followers,
)
from services.goals.domain.kpi_link import PeriodValue
from services.goals.domain.progress import Thresholds

DAY = timedelta(days=1)
START = datetime(2026, 10, 1, tzinfo=UTC)
END = START + 100 * DAY
HALFWAY = START + 50 * DAY
POLICY = Policy(thresholds=Thresholds(), graduation_periods=3)
ACTIVE = CycleView(state="active", closed_at=None)


def kr(id: str = "kr1", **fields: object) -> KeyResultState:
    values: dict[str, object] = {
        "id": id,
        "objective_id": "o1",
        "cycle_id": "c1",
        "title": "Reach 100",
        "kind": "increase",
        "start": 0.0,
        "target": 100.0,
        "bound_low": None,
        "bound_high": None,
        "current": None,
        "done": False,
        "weight": 1.0,
        "starts_at": START,
        "due_at": END,
        "kpi": None,
        "kpi_aggregation": None,
        "kpi_period": None,
        "kpi_cadence_s": None,
        "kpi_last_at": None,
        "periods_met": None,
        "periods_elapsed": None,
        "graduation_periods": None,
        "state": "open",
        "graduated_at": None,
        "progress": 0.0,
        "raw_progress": 0.0,
        "expected": None,
        "status": "not_started",
        "score": None,
        "score_overridden": False,
    }
    values.update(fields)
    return KeyResultState(**values)  # type: ignore[arg-type]


def objective(id: str = "o1", **fields: object) -> ObjectiveState:
    values: dict[str, object] = {
        "id": id,
        "cycle_id": "c1",
        "title": "Grow",
        "parent_id": None,
        "team_id": None,
        "state": "open",
        "progress": 0.0,
        "status": "not_started",
        "rollup_progress": 0.0,
        "rollup_status": "not_started",
        "score": None,
        "score_overridden": False,
    }
    values.update(fields)
    return ObjectiveState(**values)  # type: ignore[arg-type]


def run(
    objectives: list[ObjectiveState],
    key_results: list[KeyResultState],
    *,
    cycle: CycleView = ACTIVE,
    change: Change | None = None,
    periods: dict[str, list[PeriodValue]] | None = None,
    now: datetime = HALFWAY,
) -> Outcome:
    return evaluate(
        cycle,
        objectives,
        key_results,
        periods or {},
        change=change or Change(),
        policy=POLICY,
        now=now,
    )


class TestAManualCheckIn:
    def test_moves_the_kr_and_its_objective_and_announces_both(self) -> None:
        outcome = run([objective()], [kr(current=60.0, status="at_risk")])
        judged = outcome.key_results["kr1"]
        # 60 of 100 at half time: progress 0.6 against 0.5 expected is on track.
        assert (judged.progress, judged.expected, judged.status) == (0.6, 0.5, "on_track")
        assert outcome.objectives["o1"].progress == 0.6
        assert outcome.objectives["o1"].rollup_progress == 0.6
        assert outcome.changed == {"kr1", "o1"}
        [progressed, changed] = outcome.events
        assert isinstance(progressed, KrProgressed)
        assert progressed.previous_status == "at_risk"
        assert progressed.source == "manual"
        assert isinstance(changed, ObjectiveChanged)
        assert changed.objective.status == "on_track"
        assert changed.previous_status == "not_started"

    def test_evaluating_the_outcome_again_announces_nothing(self) -> None:
        first = run([objective()], [kr(current=60.0)])
        again = run(list(first.objectives.values()), list(first.key_results.values()))
        assert again.events == ()
        assert again.changed == frozenset()


class TestCreatedAndTouched:
    def test_a_new_kr_has_no_previous_status(self) -> None:
        outcome = run([objective()], [kr()], change=Change(created={"kr1"}))
        [event] = [e for e in outcome.events if isinstance(e, KrProgressed)]
        assert event.previous_status is None

    def test_a_touched_objective_is_announced_though_nothing_moved(self) -> None:
        settled = run([objective()], [kr(current=60.0)])
        outcome = run(
            list(settled.objectives.values()),
            list(settled.key_results.values()),
            change=Change(touched={"o1"}),
        )
        assert [type(e) for e in outcome.events] == [ObjectiveChanged]


class TestClosedCycle:
    def test_closing_scores_and_closes(self) -> None:
        outcome = run([objective()], [kr(current=80.0)], change=Change(closing=True), now=END - DAY)
        assert outcome.key_results["kr1"].score == 0.8
        assert outcome.objectives["o1"].score == 0.8
        assert outcome.objectives["o1"].state == "closed"

    def test_a_closed_cycle_keeps_its_numbers_but_scores_follow_an_override(self) -> None:
        closed = CycleView(state="closed", closed_at=END)
        frozen = kr(current=80.0, progress=0.8, raw_progress=0.8, status="off_track")
        overridden = replace(frozen, score=0.5, score_overridden=True)
        outcome = run([objective(score=0.8)], [overridden], cycle=closed)
        assert outcome.key_results["kr1"] == overridden
        assert outcome.objectives["o1"].score == 0.5
        assert [type(e) for e in outcome.events] == [ObjectiveChanged]
        assert kpi_followers(closed, [overridden], Change()) == []


class TestLinkedKr:
    def test_a_window_emptied_by_retractions_leaves_the_kr_without_a_value(self) -> None:
        linked = kr(
            kpi="mql",
            kpi_aggregation="sum",
            kpi_period="day",
            current=30.0,
            kpi_last_at=START + DAY / 2,
        )
        emptied = [PeriodValue(START, START + DAY, 0.0, 0, START - timedelta(microseconds=1), 2)]
        outcome = run(
            [objective()], [linked], change=Change(source="kpi"), periods={"kr1": emptied}
        )
        judged = outcome.key_results["kr1"]
        assert (judged.current, judged.kpi_last_at, judged.progress) == (None, None, 0.0)
        assert judged.periods_met == 0

    def test_periods_outside_the_window_leave_the_value_as_it_is(self) -> None:
        linked = kr(kpi="mql", kpi_aggregation="sum", kpi_period="day", current=30.0)
        before = START - 2 * DAY
        outside = [PeriodValue(before, before + DAY, 0.0, 0, before, 1)]
        outcome = run(
            [objective()], [linked], change=Change(source="kpi"), periods={"kr1": outside}
        )
        assert outcome.key_results["kr1"].current == 30.0

    def test_met_for_enough_periods_it_graduates(self) -> None:
        linked = kr(kpi="mql", kpi_aggregation="last", kpi_period="day", kpi_cadence_s=86400)
        assert kpi_followers(ACTIVE, [linked], Change()) == ["kr1"]
        now = START + 3 * DAY + timedelta(hours=1)
        days = [START + i * DAY for i in range(3)]
        periods = [PeriodValue(d, d + DAY, 120.0, 1, d + DAY / 2) for d in days]
        outcome = run(
            [objective()], [linked], change=Change(source="kpi"), periods={"kr1": periods}, now=now
        )
        judged = outcome.key_results["kr1"]
        assert (judged.state, judged.status, judged.progress) == ("graduated", "achieved", 1.0)
        assert judged.current == 120.0
        assert (judged.periods_met, judged.periods_elapsed) == (3, 3)
        graduations = [e for e in outcome.events if isinstance(e, KrGraduated)]
        assert [(g.target, g.direction) for g in graduations] == [(100.0, "higher")]
        assert [type(e) for e in outcome.events] == [KrProgressed, KrGraduated, ObjectiveChanged]
