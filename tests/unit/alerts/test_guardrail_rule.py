"""The built-in KpiGuardrailBreached rule: its condition and the promotion it suggests."""

from __future__ import annotations

from services.alerts.domain.conditions import kpi_verdict
from services.alerts.domain.evaluation import Verdict
from services.alerts.domain.templates import expand_all
from services.alerts.service.evaluate import (
    BUILTIN_KPI_GUARDRAIL,
    builtin_rules,
    guardrail_rule,
)
from services.alerts.settings import AlertsSettings

SETTINGS = AlertsSettings(goals_url="https://goals.example")


class TestGuardrailRule:
    def test_fires_when_health_leaves_green_and_clears_on_green(self) -> None:
        cond = guardrail_rule(SETTINGS).condition
        assert kpi_verdict(cond, 1.0, "amber", []) is Verdict.BREACH
        assert kpi_verdict(cond, 1.0, "red", []) is Verdict.BREACH
        assert kpi_verdict(cond, 1.0, "green", []) is Verdict.CLEAR
        assert kpi_verdict(cond, 1.0, "no_data", []) is Verdict.NO_DATA

    def test_annotations_suggest_promoting_the_kpi_again(self) -> None:
        rule = guardrail_rule(SETTINGS)
        assert (rule.name, rule.severity) == ("KpiGuardrailBreached", "warning")
        labels = {"kpi": "churn", "graduated_from": "kr-7"}
        annotations = expand_all(rule.annotations, labels, 6.5)
        promote = "https://goals.example/v1/key-results/promote"
        assert annotations["promote_url"] == promote
        assert annotations["summary"] == "KPI churn left its guardrail band (value 6.5)"
        assert "key result kr-7 graduated" in annotations["description"]
        assert "promoting churn back to a key result" in annotations["description"]
        assert promote in annotations["description"]

    def test_is_a_builtin_beside_the_others(self) -> None:
        assert set(builtin_rules(SETTINGS)) == {
            "builtin:kpi-red",
            "builtin:kr-off-track",
            BUILTIN_KPI_GUARDRAIL,
        }
