"""Progress, pace and status of key results and objectives (DESIGN.md "Progress", "Status").

Pure arithmetic: plain values in, numbers and statuses out; `now` is always a parameter.
Every rule the API shows to a user is decided here and nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.bounds import progress_span_error


class KrKind(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"
    KEEP_ABOVE = "keep_above"
    KEEP_BELOW = "keep_below"
    KEEP_BETWEEN = "keep_between"
    MILESTONE = "milestone"


BOUND_KINDS = frozenset({KrKind.KEEP_ABOVE, KrKind.KEEP_BELOW, KrKind.KEEP_BETWEEN})
TARGET_KINDS = frozenset({KrKind.INCREASE, KrKind.DECREASE})


class Status(StrEnum):
    NOT_STARTED = "not_started"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    ACHIEVED = "achieved"
    STALE = "stale"


# Weakest first: an objective takes the weakest status among its judged key results.
_RANK = {
    Status.OFF_TRACK: 0,
    Status.STALE: 1,
    Status.AT_RISK: 2,
    Status.ON_TRACK: 3,
    Status.ACHIEVED: 4,
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The pace thresholds (settings; DESIGN.md defaults).

    `on_track`: on track when progress ≥ on_track x expected; `at_risk`: at risk from
    at_risk x expected, off track below; `too_early`: no judgement in the first share of the
    window (0.1 = the first 10 %).
    """

    on_track: float = 0.7
    at_risk: float = 0.5
    too_early: float = 0.1


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class KeyResultSpec:
    """What the arithmetic needs of a key result.

    INCREASE/DECREASE use `start` and `target` (target ≠ start; the sign of target - start
    says which way is good). KEEP_ABOVE holds while current ≥ target, KEEP_BELOW while
    current ≤ target, KEEP_BETWEEN while bound_low ≤ current ≤ bound_high — all bounds
    inclusive. MILESTONE uses `done` only. `current` is None until the first check-in.
    """

    kind: KrKind
    start: float | None = None
    target: float | None = None
    bound_low: float | None = None
    bound_high: float | None = None
    current: float | None = None
    done: bool = False


def bound_holds(kr: KeyResultSpec) -> bool | None:
    """Whether a keep-above/below/between KR's bound holds now (inclusive: `≥`, `≤`).

    None when the KR has no value yet or is not a bound kind.
    """
    if kr.kind not in BOUND_KINDS or kr.current is None:
        return None
    value = kr.current
    if kr.kind is KrKind.KEEP_ABOVE:
        assert kr.target is not None
        return value >= kr.target
    if kr.kind is KrKind.KEEP_BELOW:
        assert kr.target is not None
        return value <= kr.target
    assert kr.bound_low is not None
    assert kr.bound_high is not None
    return kr.bound_low <= value <= kr.bound_high


def raw_progress(kr: KeyResultSpec) -> float:
    """Unclamped progress: (current - start) / (target - start) for INCREASE/DECREASE.

    The formula is the right way round for decreasing KRs (both differences are negative), and
    is not clamped: 1.25 means 125 % (over-achievement), -0.2 means it went the wrong way.
    No value yet counts as the start (0.0). Bound kinds: 1.0 while the bound holds, else 0.0.
    Milestones: 1.0 when done, else 0.0.
    """
    if kr.kind is KrKind.MILESTONE:
        return 1.0 if kr.done else 0.0
    if kr.kind in BOUND_KINDS:
        return 1.0 if bound_holds(kr) else 0.0
    assert kr.start is not None
    assert kr.target is not None
    if kr.target == kr.start:
        raise ValueError("target must differ from start")
    if kr.current is None:
        return 0.0
    return (kr.current - kr.start) / (kr.target - kr.start)


def clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


def progress(kr: KeyResultSpec) -> float:
    """Progress clamped to 0.0-1.0 (see `raw_progress`)."""
    return clamp01(raw_progress(kr))


def expected(window_start: datetime, window_end: datetime, now: datetime) -> float:
    """The expected progress at `now`: the elapsed share of the window, linear, 0.0-1.0.

    0.0 before the start, 1.0 from the end on. A zero-length (or inverted) window is a step:
    0.0 before its end, 1.0 from it.
    """
    if window_end <= window_start:
        return 1.0 if now >= window_end else 0.0
    if now <= window_start:
        return 0.0
    if now >= window_end:
        return 1.0
    return (now - window_start) / (window_end - window_start)


def status(
    kr: KeyResultSpec,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    *,
    closed: bool = False,
    stale: bool = False,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Status:
    """A key result's status from its progress and the pace its window expects.

    - MILESTONE: not started until done, then achieved.
    - Bound kinds: not started before the window opens or before the first value; then on
      track while the bound holds, off track while it does not; achieved only when the cycle
      is `closed` with the bound held.
    - INCREASE/DECREASE: achieved when progress ≥ 1 (at any time); otherwise not started
      before the first value, before the window opens, or while less than `too_early` of the
      window has elapsed; then on track when progress ≥ on_track x expected, at risk from
      at_risk x expected, off track below. Once the cycle is `closed`, a KR short of its
      target is off track.
    - `stale` (a KPI-linked KR whose KPI went quiet longer than its cadence) replaces any
      status but achieved and not started: stale is never shown as on track.
    """
    if kr.kind is KrKind.MILESTONE:
        return Status.ACHIEVED if kr.done else Status.NOT_STARTED
    if kr.kind in BOUND_KINDS:
        return _bound_status(kr, window_start, now, closed=closed, stale=stale)
    done = progress(kr)
    if done >= 1.0:
        return Status.ACHIEVED
    if closed:
        return Status.OFF_TRACK
    share = expected(window_start, window_end, now)
    if (
        kr.current is None
        or now < window_start
        or (window_end > window_start and share < thresholds.too_early)
    ):
        return Status.NOT_STARTED
    if stale:
        return Status.STALE
    if done >= thresholds.on_track * share:
        return Status.ON_TRACK
    if done >= thresholds.at_risk * share:
        return Status.AT_RISK
    return Status.OFF_TRACK


def _bound_status(
    kr: KeyResultSpec, window_start: datetime, now: datetime, *, closed: bool, stale: bool
) -> Status:
    holds = bound_holds(kr)
    if holds is None or (now < window_start and not closed):
        return Status.NOT_STARTED
    if closed:
        return Status.ACHIEVED if holds else Status.OFF_TRACK
    judged = Status.ON_TRACK if holds else Status.OFF_TRACK
    return Status.STALE if stale else judged


def weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    """The weighted mean of `values`; when every weight is zero, the plain mean.

    An empty sequence gives 0.0. Negative weights are refused (ValueError).
    """
    if len(values) != len(weights):
        raise ValueError("one weight per value")
    if not values:
        return 0.0
    if any(w < 0 or not math.isfinite(w) for w in weights):
        raise ValueError("weights must be finite and non-negative")
    largest = max(weights)
    if largest == 0:
        return math.fsum(values) / len(values)
    # Scale by the largest weight first: with tiny weights, v * w underflows to zero.
    scaled = [w / largest for w in weights]
    return math.fsum(v * w for v, w in zip(values, scaled, strict=True)) / math.fsum(scaled)


def objective_progress(progresses: Sequence[float], weights: Sequence[float]) -> float:
    """An objective's progress: the weighted mean of its KRs' clamped progress (0.0-1.0)."""
    return clamp01(weighted_mean([clamp01(p) for p in progresses], weights))


def objective_status(statuses: Sequence[Status]) -> Status:
    """An objective's status: its weakest judged KR's.

    Weakest first: off track, stale, at risk, on track, achieved. KRs not started yet are not
    judged (so one milestone still to come does not hide the others), but an objective is only
    achieved when every KR is: achieved beside a not-started KR shows as on track. No KRs, or
    none judged yet: not started.
    """
    judged = [s for s in statuses if s is not Status.NOT_STARTED]
    if not judged:
        return Status.NOT_STARTED
    weakest = min(judged, key=_RANK.__getitem__)
    if weakest is Status.ACHIEVED and len(judged) < len(statuses):
        return Status.ON_TRACK
    return weakest


def rollup_progress(own: float | None, children: Sequence[float]) -> float:
    """An objective's progress including aligned children (their own roll-ups).

    No children: its own progress. No KRs of its own (`own` None): the plain mean of the
    children. Both: the plain mean of its own progress (counted once) and each child's.
    Neither: 0.0.
    """
    items = ([own] if own is not None else []) + list(children)
    if not items:
        return 0.0
    return clamp01(math.fsum(items) / len(items))


def rollup_status(own: Status | None, children: Sequence[Status]) -> Status:
    """An objective's status including aligned children: `objective_status` over its own
    status (when it has KRs) and its children's roll-up statuses."""
    return objective_status(([own] if own is not None else []) + list(children))


def team_progress(objective_progresses: Sequence[float]) -> float:
    """A team's progress in a cycle: the plain mean of its objectives' roll-up progress."""
    if not objective_progresses:
        return 0.0
    return clamp01(math.fsum(objective_progresses) / len(objective_progresses))


def definition_error(kr: KeyResultSpec) -> str | None:
    """Why a key result's numbers make no sense for its kind, or None when they do.

    INCREASE needs start and target with target > start; DECREASE target < start (target ≠
    start either way: progress would divide by zero). KEEP_ABOVE/KEEP_BELOW need `target` (the
    bound) and no bound_low/bound_high; KEEP_BETWEEN needs bound_low ≤ bound_high. MILESTONE
    takes no numbers.
    """
    if kr.kind in TARGET_KINDS:
        return _target_error(kr)
    if kr.kind in (KrKind.KEEP_ABOVE, KrKind.KEEP_BELOW):
        if kr.target is None:
            return f"a '{kr.kind}' key result needs target (the bound, inclusive)"
        if _given(kr.start, kr.bound_low, kr.bound_high):
            return f"a '{kr.kind}' key result takes only target"
        return None
    if kr.kind is KrKind.KEEP_BETWEEN:
        if kr.bound_low is None or kr.bound_high is None:
            return "a 'keep_between' key result needs bound_low and bound_high"
        if kr.bound_low > kr.bound_high:
            return "bound_low must not exceed bound_high"
        if _given(kr.start, kr.target):
            return "a 'keep_between' key result takes only bound_low and bound_high"
        return None
    if _given(kr.start, kr.target, kr.bound_low, kr.bound_high):
        return "a 'milestone' key result takes no numbers"
    return None


def _target_error(kr: KeyResultSpec) -> str | None:
    if kr.start is None or kr.target is None:
        return f"a '{kr.kind}' key result needs start and target"
    if (span_error := progress_span_error(kr.start, kr.target)) is not None:
        return span_error  # progress divides by target - start
    if kr.kind is KrKind.INCREASE and kr.target < kr.start:
        return "an 'increase' key result needs target > start (use 'decrease')"
    if kr.kind is KrKind.DECREASE and kr.target > kr.start:
        return "a 'decrease' key result needs target < start (use 'increase')"
    if _given(kr.bound_low, kr.bound_high):
        return f"a '{kr.kind}' key result takes no bound_low/bound_high"
    return None


def _given(*numbers: float | None) -> bool:
    return any(n is not None for n in numbers)
