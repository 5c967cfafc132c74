"""An alert's identity and what it says about itself: its labels and fingerprint, the note on
a muted firing, whether its acknowledgement holds, and the generatorURL of its subject."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from services.alerts.domain.evaluation import Marks
from services.alerts.domain.rules import RuleView

# FNV-1a 64 (http://www.isthe.com/chongo/tech/comp/fnv/), as Go's hash/fnv and prometheus/common.
_FNV_OFFSET64 = 14695981039346656037
_FNV_PRIME64 = 1099511628211
_MASK64 = (1 << 64) - 1
# prometheus/common/model.SeparatorByte: after each label name and after each value.
_SEPARATOR = b"\xff"


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set, as 16 lowercase hex digits: FNV-1a 64 over
    the label names in byte order, each name and each value (UTF-8) followed by the byte 0xff
    (`prometheus/common/model` `LabelSet.Fingerprint`, rendered as `Fingerprint.String`). The
    same labels give the same id in Lodestar and in Alertmanager."""
    h = _FNV_OFFSET64
    for name in sorted(labels):  # code point order is UTF-8 byte order, as Go sorts
        for byte in name.encode() + _SEPARATOR + labels[name].encode() + _SEPARATOR:
            h = ((h ^ byte) * _FNV_PRIME64) & _MASK64
    return f"{h:016x}"


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


def ack_in_force(expires_at: datetime | None, now: datetime) -> bool:
    """Whether an acknowledgement given with this expiry still holds at `now` (it lapses at
    `expires_at`, exactly)."""
    return expires_at is None or now < expires_at


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
