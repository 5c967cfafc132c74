"""The built-in KpiGuardrailBreached rule: its condition and the promotion it suggests."""

from __future__ import annotations

from services.alerts.domain.conditions import kpi_verdict
from services.alerts.domain.evaluation import Verdict
from services.alerts.domain.rules import (
    BUILTIN_KPI_GUARDRAIL,
    builtin_rules,
    guardrail_rule,
)
from services.alerts.domain.templates import expand_all
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


class TestAlertEvent:
    def test_is_the_event_new_event_builds_and_validates(self) -> None:
        from datetime import UTC, datetime

        from services.alerts.service.notifier import alert_data, alert_event
        from shared.events import AlertV1, CloudEvent, new_event

        at = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
        fields = {
            "status": "resolved",
            "labels": {"alertname": "KpiRed", "kpi": "churn"},
            "annotations": {"summary": "x"},
            "starts_at": at,
            "ends_at": at,
            "generator_url": "http://metrics/v1/kpis/churn",
            "fingerprint": "abc",
            "value": 1.5,
            "subject": "churn",
        }
        fast = alert_event(
            source="lodestar/alerts",
            tenant="acme",
            fingerprint="abc",
            data=alert_data(**fields),  # type: ignore[arg-type]
            at=at,
        )
        slow = new_event(
            type="lodestar.alert.resolved.v1",
            source="lodestar/alerts",
            tenant="acme",
            subject="abc",
            data=AlertV1(**fields),  # type: ignore[arg-type]
            time=at,
            id=fast.id,
        )
        assert fast.to_json() == slow.to_json()
        assert CloudEvent.model_validate_json(fast.to_json()) == slow
        AlertV1.model_validate(fast.data)

    def test_data_is_the_models_json_dump(self) -> None:
        """Written out by hand, the payload is what pydantic's JSON mode makes of the model,
        for times with and without microseconds, in UTC and not, and values of any size."""
        import random
        from datetime import UTC, datetime, timedelta, timezone

        from services.alerts.service.notifier import alert_data
        from shared.events import AlertV1

        rng = random.Random(15)
        zones = [
            UTC,
            timezone(timedelta(0)),
            timezone(timedelta(hours=2)),
            timezone(timedelta(minutes=-90)),
        ]
        for _ in range(500):
            base = datetime(2026, 1, 1, tzinfo=rng.choice(zones))
            starts = base + timedelta(
                seconds=rng.randrange(10**8), microseconds=rng.choice([0, rng.randrange(10**6)])
            )
            fields = {
                "status": rng.choice(["firing", "resolved"]),
                "labels": {"alertname": "High", "kpi": f"k{rng.randrange(9)}"},
                "annotations": {"summary": f"value {rng.random()}"},
                "starts_at": starts,
                "ends_at": rng.choice(
                    [None, starts + timedelta(microseconds=rng.randrange(10**9))]
                ),
                "generator_url": "http://metrics/v1/kpis/k",
                "fingerprint": f"{rng.getrandbits(64):016x}",
                "value": rng.choice(
                    [None, 0.0, -1.5, rng.random() * 10 ** rng.randrange(-300, 300)]
                ),
                "subject": "k",
            }
            model = AlertV1.model_construct(**fields)  # type: ignore[arg-type]
            assert alert_data(**fields) == model.model_dump(mode="json", by_alias=True)  # type: ignore[arg-type]
