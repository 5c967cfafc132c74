"""Webhook notifications: Alertmanager's webhook body (version "4"), its signature, retry timing.

Any receiver built for Alertmanager takes the body unchanged. Posts are signed as Standard
Webhooks says (standardwebhooks.com), so its libraries verify them:

    webhook-id:        the delivery's id (the same on every retry: receivers dedupe on it)
    webhook-timestamp: seconds since the epoch, of this attempt
    webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">

keyed by the secret's bytes (the secret reads `whsec_<base64 of 24-64 random bytes>`). The id
and the timestamp are signed with the body, so a captured post replayed later fails the
receiver's tolerance on the timestamp, and one replayed at once repeats an id it has seen.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)
# How far a receiver lets the timestamp be from its clock (the Standard Webhooks default).
TOLERANCE_S = 300
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


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_<base64>` secret stands for; ValueError if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret reads {SECRET_PREFIX}<base64 of 24-64 random bytes>")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the webhook secret is not base64 after whsec_") from exc
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        raise ValueError(f"a webhook secret holds {low} to {high} bytes")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of one attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body),
    }


def verify(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """What a receiver does: the timestamp within `TOLERANCE_S` of its clock, and one of the
    space-separated `v1,` signatures equal (in constant time) to the one it computes."""
    msg_id, stamp = headers.get(ID_HEADER, ""), headers.get(TIMESTAMP_HEADER, "")
    if not msg_id or not stamp.isdigit() or abs(now - int(stamp)) > TOLERANCE_S:
        return False
    expected = sign(secret, msg_id, int(stamp), body)
    offered = headers.get(SIGNATURE_HEADER, "").split()
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


def retry_delay(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential backoff after `attempts` failed attempts: base, 2·base, 4·base … ≤ cap."""
    delay: timedelta = base * (2 ** max(attempts - 1, 0))
    return min(delay, cap)
