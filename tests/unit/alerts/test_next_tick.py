"""When the clock can next move an alert (`next_tick`): the ticker steps only the alerts due,
so a tick before that time must change nothing, and the one at it must be able to."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.alerts.domain.evaluation import (
    AlertState,
    AlertStatus,
    Marks,
    Observation,
    Policy,
    Verdict,
    next_tick,
    step,
)
from services.alerts.domain.matching import (
    Matcher,
    MatchOp,
    Silence,
    next_silence_change,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OBSERVATIONS = [
    Observation(Verdict.BREACH, 10.0),
    Observation(Verdict.CLEAR, 1.0),
    Observation(Verdict.BAND, 5.0),
    Observation(Verdict.NO_DATA, None),
    Observation.tick(),
]


def policies() -> list[Policy]:
    s = timedelta(seconds=1)
    return [
        Policy(),
        Policy(for_=30 * s),
        Policy(keep_firing_for=20 * s),
        Policy(repeat_interval=60 * s),
        Policy(no_data_after=45 * s),
        Policy(for_=10 * s, keep_firing_for=10 * s, repeat_interval=25 * s, no_data_after=40 * s),
    ]


@pytest.mark.parametrize("seed", range(40))
def test_no_tick_before_the_due_time_changes_anything_and_the_one_at_it_can(seed: int) -> None:
    """Random walks through the state machine: after each step, ticks at instants before
    `next_tick` leave the status as it is and say nothing; with nothing due, neither does a
    tick a year on. Unmuted throughout (the mutes have their own times)."""
    rng = random.Random(seed)
    policy = rng.choice(policies())
    status, now = AlertStatus(), T0
    for _ in range(30):
        now += timedelta(seconds=rng.choice([0, 1, 5, 15, 40, 90]))
        status, _events = step(status, rng.choice(OBSERVATIONS), policy, now)
        due = next_tick(status, policy, now, muted=False)
        horizon = due if due is not None else now + timedelta(days=365)
        span = (horizon - now).total_seconds()
        for fraction in (0.0, 0.5, 0.999):
            when = now + timedelta(seconds=span * fraction)
            if due is not None and when >= due:
                continue
            moved, events = step(status, Observation.tick(), policy, when)
            assert (moved, events) == (status, []), (status, policy, when, due)
        if due is not None:
            assert due >= now or status.state is AlertState.FIRING


def test_a_firing_held_back_by_a_mute_is_due_only_once_unmuted() -> None:
    policy = Policy()
    muted = Marks(silenced=True)
    status, _ = step(AlertStatus(), Observation(Verdict.BREACH, 9.0), policy, T0, muted)
    assert (status.state, status.notified) == (AlertState.FIRING, False)
    assert next_tick(status, policy, T0, muted=True) == status.last_notified_at  # None
    assert next_tick(status, policy, T0, muted=False) == T0


def test_a_published_firing_is_due_at_its_repeat_even_when_acknowledged() -> None:
    policy = Policy(repeat_interval=timedelta(minutes=10))
    status, _ = step(AlertStatus(), Observation(Verdict.BREACH, 9.0), policy, T0)
    assert next_tick(status, policy, T0, muted=False) == T0 + timedelta(minutes=10)


def test_a_no_data_condition_is_due_at_its_deadline_and_at_once_past_it() -> None:
    policy, deadline = Policy(), T0 + timedelta(minutes=5)
    assert next_tick(AlertStatus(), policy, T0, muted=False, absent_at=deadline) == deadline
    later = deadline + timedelta(seconds=1)
    assert next_tick(AlertStatus(), policy, later, muted=False, absent_at=deadline) == later
    # Firing on the standing breach: due at its repeat, not at every tick.
    firing, _ = step(AlertStatus(), Observation(Verdict.BREACH, None, fresh=False), policy, later)
    repeat = later + policy.repeat_interval
    assert next_tick(firing, policy, later, muted=False, absent_at=deadline) == repeat


def test_a_silence_changes_at_its_start_if_ahead_else_at_its_end() -> None:
    kpi = (Matcher("kpi", MatchOp.EQ, "churn"),)
    ahead = Silence("a", kpi, T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    active = Silence("b", kpi, T0 - timedelta(hours=1), T0 + timedelta(hours=3))
    other = Silence("c", (Matcher("kpi", MatchOp.EQ, "nps"),), T0, T0 + timedelta(minutes=1))
    labels = {"kpi": "churn"}
    assert next_silence_change([active, other], labels, T0) == T0 + timedelta(hours=3)
    assert next_silence_change([ahead, active], labels, T0) == T0 + timedelta(hours=1)
    assert next_silence_change([other], labels, T0) is None


@pytest.mark.parametrize("value", ["", "a", "a b", "a\nb", "\n", " "])
def test_the_fast_dot_plus_matches_as_re2_does(value: str) -> None:
    from services.alerts.domain.regex import full_match

    matcher = Matcher("x", MatchOp.RE, ".+")
    assert matcher.matches({"x": value}) is full_match(".+", value)
    assert Matcher("x", MatchOp.NRE, ".+").matches({"x": value}) is not full_match(".+", value)
