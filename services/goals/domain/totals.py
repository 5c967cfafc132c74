"""An objective's totals over its key results: what its own progress and status are made of,
kept exactly, so that a batch moving a few of an objective's thousand KRs updates them by those
few and still gives the very numbers a pass over all of them gives.

An objective's progress is `progress.objective_progress`: each KR's clamped progress times its
weight scaled by the largest, summed with `math.fsum`, over the sum of the scaled weights, also
by `fsum`. `fsum` rounds the exact sum once, correctly. Every finite float is a whole multiple
of 2**-1074, so the totals keep those two sums as integers in that unit: taking one KR's term
away and adding its new one is exact, and the integer divided by 2**1074 is rounded once,
correctly, as `fsum` rounds. A running float total would drift from the full pass by a last bit
now and then, and an objective is announced on any difference. Statuses are counted.

What the totals cannot follow by themselves: a change of a KR's weight (the largest scales every
term) or of which KRs the objective holds. A write re-counts its objective from all its KRs
(`of_krs`); a KPI value moves only progress and status (`moved`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.goals.domain import progress as p

STATUSES = tuple(p.Status)
_UNIT = 1074  # 2**-1074: the smallest positive float, of which every finite float is a multiple
_ONE = 1 << _UNIT


class Counted(Protocol):
    """What the totals read of a KR (a `KeyResultState` or a `KrLight`)."""

    @property
    def weight(self) -> float: ...
    @property
    def progress(self) -> float: ...
    @property
    def status(self) -> str: ...


def _exact(x: float) -> int:
    """`x` (finite, not negative) in units of 2**-1074, exactly."""
    numerator, denominator = x.as_integer_ratio()  # the denominator is a power of two
    return numerator << (_UNIT + 1 - denominator.bit_length())


@dataclass(frozen=True, slots=True)
class KrTotals:
    """The sums an objective's own numbers are made of, over its KRs (see the module).

    `terms`: Σ clamp01(progress) · weight / `weight_max`, each product rounded as
    `progress.weighted_mean` rounds it, in units of 2**-1074 (the plain Σ clamp01(progress)
    when every weight is zero); `weights`: Σ weight / `weight_max` so, 0 when every weight is
    zero; `statuses`: how many KRs have each of `STATUSES`, in its order."""

    count: int
    weight_max: float
    weights: int
    terms: int
    statuses: tuple[int, ...]

    def progress(self) -> float:
        """The objective's own progress, exactly `progress.objective_progress` of its KRs."""
        if self.count == 0:
            return 0.0
        mean = self.terms / _ONE  # int / int: correctly rounded, as fsum is
        mean /= self.count if self.weight_max == 0 else self.weights / _ONE
        return p.clamp01(mean)

    def status(self) -> p.Status:
        """The objective's own status, exactly `progress.objective_status` of its KRs' (which
        looks only at which statuses are there)."""
        return p.objective_status([s for s, n in zip(STATUSES, self.statuses, strict=True) if n])

    def moved(self, before: Sequence[Counted], after: Sequence[Counted]) -> KrTotals:
        """These totals with the KRs `before` (as counted here) replaced by `after`: the same
        KRs, in the same order, with the same weights, their progress and status moved."""
        terms = self.terms
        statuses = list(self.statuses)
        for old, new in zip(before, after, strict=True):
            assert old.weight == new.weight, "a weight change is re-counted (`of_krs`)"
            terms += self._term(new) - self._term(old)
            statuses[STATUSES.index(p.Status(old.status))] -= 1
            statuses[STATUSES.index(p.Status(new.status))] += 1
        return KrTotals(self.count, self.weight_max, self.weights, terms, tuple(statuses))

    def _term(self, kr: Counted) -> int:
        value = p.clamp01(kr.progress)
        if self.weight_max == 0:
            return _exact(value)
        return _exact(value * (kr.weight / self.weight_max))


def of_krs(krs: Sequence[Counted]) -> KrTotals:
    """The totals of an objective whose KRs are `krs` (all of them, as judged)."""
    largest = max((kr.weight for kr in krs), default=0.0)
    if largest == 0:
        weights, terms = 0, sum(_exact(p.clamp01(kr.progress)) for kr in krs)
    else:
        weights = sum(_exact(kr.weight / largest) for kr in krs)
        terms = sum(_exact(p.clamp01(kr.progress) * (kr.weight / largest)) for kr in krs)
    counts = Counter(kr.status for kr in krs)
    return KrTotals(len(krs), largest, weights, terms, tuple(counts[s] for s in STATUSES))
