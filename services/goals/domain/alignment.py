"""Alignment trees (objectives under parent objectives, teams under parent teams): cycle checks.

Pure: the caller passes the known parent links; nothing here reads a database.
"""

from __future__ import annotations

from collections.abc import Callable


def creates_cycle(
    node: str, new_parent: str | None, parent_of: Callable[[str], str | None]
) -> bool:
    """Whether making `new_parent` the parent of `node` would close a loop.

    Walks up from `new_parent` through `parent_of`; meeting `node` (or `node` being its own
    parent) is a cycle. A walk that meets a node twice (an already corrupt chain) also counts.
    """
    seen: set[str] = set()
    current = new_parent
    while current is not None:
        if current == node or current in seen:
            return True
        seen.add(current)
        current = parent_of(current)
    return False
