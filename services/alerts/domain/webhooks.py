"""Webhook notifications: Alertmanager's webhook body (version "4"), its signature, retry timing.

Any receiver built for Alertmanager takes the body unchanged. The signature header is
`X-Lodestar-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the rule's secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

SIGNATURE_HEADER = "X-Lodestar-Signature"
# Alertmanager writes the zero time as endsAt of an alert that has not ended.
ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(at: datetime | None) -> str:
    if at is None:
        return ZERO_TIME
    return at.isoformat().replace("+00:00", "Z")


def webhook_body(
    *,
    receiver: str,
    status: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    starts_at: datetime,
    ends_at: datetime | None,
    generator_url: str,
    fingerprint: str,
    external_url: str,
) -> dict[str, Any]:
    """One alert as an Alertmanager webhook notification: a group of one, grouped by all its
    labels (Alertmanager's `group_by: ['...']`), so `groupKey` and `groupLabels` name exactly
    this alert and a receiver that keys incidents on them keeps two alerts apart."""
    return {
        "version": "4",
        "groupKey": group_key(labels),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": rfc3339(starts_at),
                "endsAt": rfc3339(ends_at),
                "generatorURL": generator_url,
                "fingerprint": fingerprint,
            }
        ],
    }


def group_key(group_labels: dict[str, str]) -> str:
    """Alertmanager's group key under the root route: `{}:` and the group's labels as
    Prometheus prints a label set (`{a="1", b="2"}`, sorted, values quoted)."""
    pairs = ", ".join(
        f"{name}={json.dumps(group_labels[name], ensure_ascii=False)}"
        for name in sorted(group_labels)
    )
    return f"{{}}:{{{pairs}}}"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header)


def retry_delay(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff after `attempts` failed attempts: base, 2·base, 4·base … ≤ cap."""
    delay: timedelta = base * (2 ** max(attempts - 1, 0))
    return min(delay, cap)
