"""Coalescing a consumer batch: of several events that each carry the whole current state of one
thing (a KPI period's aggregate, a key result's progress), only the newest needs handling.

Events about one thing share a partition (they are keyed by it), so delivery order is the order
they were produced in, and the last delivered is the newest. Handling only that one gives the
same end state with less work, and the work per batch stays bounded by the number of things
that moved, however far a consumer falls behind.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def newest(items: Sequence[T], key: Callable[[T], Hashable | None]) -> list[T]:
    """Of the items sharing a key, the last; items whose key is None are all kept. The
    survivors keep their relative order."""
    last: dict[Hashable, int] = {}
    keep: list[int] = []
    for i, item in enumerate(items):
        k = key(item)
        if k is None:
            keep.append(i)
        else:
            last[k] = i
    return [items[i] for i in sorted([*keep, *last.values()])]
