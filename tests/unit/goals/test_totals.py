"""An objective's totals give, to the last bit, the numbers a pass over all its KRs gives
(`progress.objective_progress` and `objective_status`, the reference), however often KRs move
in them, whatever the weights: tiny ones whose scaled products are subnormal, all zero, one
huge beside tiny ones."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from hypothesis import given
from hypothesis import strategies as st

from services.goals.domain.progress import Status, objective_progress, objective_status
from services.goals.domain.totals import KrTotals, of_krs


@dataclass(frozen=True)
class Kr:
    weight: float
    progress: float
    status: str


weights = st.one_of(
    st.just(0.0),
    st.sampled_from([5e-324, 1e-310, 1e-300, 1.0, 3.0, 1e300]),
    st.floats(0, 1e6, allow_nan=False),
)
progresses = st.one_of(st.floats(-1, 2, allow_nan=False), st.sampled_from([0.0, 1e-320, 1.0]))
statuses = st.sampled_from([s.value for s in Status])
krs = st.builds(Kr, weights, progresses, statuses)


def reference(listed: list[Kr]) -> tuple[float, Status]:
    return (
        objective_progress([k.progress for k in listed], [k.weight for k in listed]),
        objective_status([Status(k.status) for k in listed]),
    )


def numbers(totals: KrTotals) -> tuple[float, Status]:
    return totals.progress(), totals.status()


@given(st.lists(krs, max_size=40))
def test_the_totals_give_the_full_pass_numbers(listed: list[Kr]) -> None:
    assert numbers(of_krs(listed)) == reference(listed)


@given(st.lists(krs, min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_moving_krs_one_batch_after_another_is_counting_afresh(
    listed: list[Kr], rng: random.Random
) -> None:
    totals = of_krs(listed)
    for _ in range(20):
        picked = rng.sample(range(len(listed)), rng.randint(1, len(listed)))
        before = [listed[i] for i in picked]
        after = [
            replace(k, progress=rng.uniform(-0.5, 1.5), status=rng.choice(list(Status)).value)
            for k in before
        ]
        for i, k in zip(picked, after, strict=True):
            listed[i] = k
        totals = totals.moved(before, after)
        assert totals == of_krs(listed)
        assert numbers(totals) == reference(listed)


def test_an_objective_without_krs_is_not_started_at_zero() -> None:
    assert numbers(of_krs([])) == (0.0, Status.NOT_STARTED)


def test_a_last_bit_a_float_running_total_would_lose() -> None:
    """0.1 + 0.2 - 0.1 is not 0.2 in floats; the totals take 0.1 away exactly."""
    a, b = Kr(1.0, 0.1, "on_track"), Kr(1.0, 0.2, "on_track")
    c = Kr(1.0, 0.3, "on_track")
    totals = of_krs([a, b, c]).moved([a], [replace(a, progress=0.0)])
    assert totals.progress() == objective_progress([0.0, 0.2, 0.3], [1.0, 1.0, 1.0])
