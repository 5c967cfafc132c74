"""Subject selection: which rules an inbound event is evaluated against, each with the
subject it names and the subject's labels. Plain values in: the tenant's stored rules on the
target, its switches, the built-in catalogue."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.alerts.domain.conditions import ConditionKind
from services.alerts.domain.rules import (
    BUILTIN_KPI_GUARDRAIL,
    BUILTIN_KPI_RED,
    BUILTIN_KR_OFF_TRACK,
    RuleView,
    Switches,
    on_status,
)

Subject = tuple[RuleView, str, str, dict[str, str]]  # rule, subject kind, subject, labels


def kpi_subjects(
    stored: Iterable[RuleView],
    kpi: str,
    tags: Iterable[str],
    switches: Switches,
    builtins: Mapping[str, RuleView],
    graduated_from: str | None,
) -> list[Subject]:
    """A KPI value: every stored rule on the KPI or selecting its tags (status rules aside),
    KpiRed, and KpiGuardrailBreached when the KPI is a guardrail (`graduated_from`, the key
    result that graduated)."""
    have = set(tags)
    labels = {"kpi": kpi}
    found: list[Subject] = [
        (r, "kpi", kpi, labels)
        for r in stored
        if (not r.selector_tags or r.selector_tags <= have)
        and r.condition.kind is not ConditionKind.STATUS
    ]
    if switches.kpi_red:
        found.append((builtins[BUILTIN_KPI_RED], "kpi", kpi, labels))
    if switches.guardrail_breached and graduated_from is not None:
        guarded = {"kpi": kpi, "graduated_from": graduated_from}
        found.append((builtins[BUILTIN_KPI_GUARDRAIL], "kpi", kpi, guarded))
    return found


def key_result_subjects(
    stored: Iterable[RuleView],
    key_result: str,
    kpi: str | None,
    switches: Switches,
    builtins: Mapping[str, RuleView],
) -> list[Subject]:
    """A key result's progress: its status rules, and KeyResultOffTrack. The linked KPI is a
    label, so the default inhibition rule can match on it."""
    rules = list(stored)
    if switches.kr_off_track:
        rules.append(builtins[BUILTIN_KR_OFF_TRACK])
    labels = {"key_result": key_result}
    if kpi:
        labels["kpi"] = kpi
    return [(r, "key_result", key_result, labels) for r in rules if on_status(r)]


def objective_subjects(stored: Iterable[RuleView], objective: str) -> list[Subject]:
    """An objective's change: its status rules."""
    labels = {"objective": objective}
    return [(r, "objective", objective, labels) for r in stored if on_status(r)]
