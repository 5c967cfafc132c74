"""Webhook notifications: Alertmanager's webhook body (version "4"), its signature, retry timing.

Any receiver built for Alertmanager takes the body unchanged. The signature header is
`X-Lodestar-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the rule's secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
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
    """One alert as an Alertmanager webhook notification (a group of one)."""
    group_labels = {"alertname": labels.get("alertname", "")}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{group_labels["alertname"]}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group_labels,
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
