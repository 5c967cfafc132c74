"""An alert's identity and what it says about itself: its labels and fingerprint, the note on
a muted firing, and the generatorURL of its subject."""

from __future__ import annotations

from typing import Protocol

from services.alerts.domain.evaluation import Marks, fingerprint
from services.alerts.domain.rules import RuleView


class SubjectLocations(Protocol):
    """Where the REST APIs owning the subjects are (the service's settings are one)."""

    @property
    def metrics_url(self) -> str: ...

    @property
    def goals_url(self) -> str: ...


def identity(rule: RuleView, tenant: str, subject: dict[str, str]) -> tuple[dict[str, str], str]:
    """An alert's labels (the rule's, then alertname, tenant, severity, then the subject's;
    later ones win) and their fingerprint."""
    labels = {
        **rule.labels,
        "alertname": rule.name,
        "tenant": tenant,
        "severity": rule.severity,
        **subject,
    }
    return labels, fingerprint(labels)


def muted_note(marks: Marks) -> str | None:
    """Why a firing was not published (silenced, inhibited), or None."""
    muted = [
        name for name, on in (("silenced", marks.silenced), ("inhibited", marks.inhibited)) if on
    ]
    return f"not published: {', '.join(muted)}" if muted else None


def generator_url_for(urls: SubjectLocations, kind: str, subject: str) -> str:
    """The subject in the REST API that owns it: a KPI in metrics, a KR or objective in goals."""
    if kind == "kpi":
        return f"{urls.metrics_url}/v1/kpis/{subject}"
    if kind == "key_result":
        return f"{urls.goals_url}/v1/key-results/{subject}"
    return f"{urls.goals_url}/v1/objectives/{subject}"
