"""The address rule of the URLs tenants name (webhooks, their own Alertmanagers), checked
when they are saved: see `services.alerts.egress`, which checks it again at each post."""

from __future__ import annotations

import asyncio

from services.alerts import egress
from services.alerts.errors import WebhookRefused
from services.alerts.settings import AlertsSettings

# A name that does not answer within this long is refused (the check runs in a write).
RESOLVE_TIMEOUT_S = 5.0


async def check_destination(settings: AlertsSettings, url: str) -> None:
    """Refuse (422) a URL Lodestar would not post to: see `services.alerts.egress`."""
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            await egress.resolve(url, allow_private=settings.webhook_allow_private)
    except TimeoutError as exc:
        raise WebhookRefused("the URL's host did not resolve in time") from exc
    except egress.DestinationRefused as exc:
        raise WebhookRefused(str(exc)) from exc
