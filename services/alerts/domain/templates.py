"""Annotation templates, in Prometheus's spelling: `{{ $labels.kpi }}` and `{{ $value }}`."""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{\{\s*\$(labels\.([a-zA-Z_][a-zA-Z0-9_]*)|value)\s*\}\}")


def expand(template: str, labels: Mapping[str, str], value: float | None) -> str:
    """Replace the placeholders; an absent label or value reads as an empty string."""

    def sub(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return labels.get(match.group(2), "")
        return "" if value is None else f"{value:g}"

    return _PLACEHOLDER.sub(sub, template)


def expand_all(
    annotations: Mapping[str, str], labels: Mapping[str, str], value: float | None
) -> dict[str, str]:
    return {k: expand(v, labels, value) for k, v in annotations.items()}
