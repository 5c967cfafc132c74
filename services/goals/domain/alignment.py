"""Alignment trees (objectives under parent objectives, teams under parent teams): loop checks
and the walk down a tree.

Pure: the caller passes the known parent links; nothing here reads a database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


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


def subtree(root: str, parents: Mapping[str, str | None]) -> list[str]:
    """`root` and every node below it, breadth first (siblings in id order); `parents` maps
    each node to its parent. A node met twice (a corrupt chain) is listed once."""
    below: dict[str, list[str]] = {}
    for child, parent in parents.items():
        if parent is not None:
            below.setdefault(parent, []).append(child)
    order, queue, seen = [], [root], {root}
    while queue:
        current = queue.pop(0)
        order.append(current)
        for child in sorted(below.get(current, [])):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return order
