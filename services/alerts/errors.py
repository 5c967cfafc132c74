"""Errors of the alerts service, each with its status and problem type.

RuleNotFound      404   AlertNotFound    404   SilenceNotFound   404
DeliveryNotFound  404   GuardrailNotFound 404   AlertNotActive    409
AlertNotAcknowledged 409
"""

from __future__ import annotations

from shared.errors import Conflict, NotFound, Unprocessable


class RuleNotFound(NotFound):
    slug, title = "rule-not-found", "Alert rule not found"


class AlertNotFound(NotFound):
    slug, title = "alert-not-found", "Alert not found"


class SilenceNotFound(NotFound):
    slug, title = "silence-not-found", "Silence not found"


class DeliveryNotFound(NotFound):
    slug, title = "delivery-not-found", "Webhook delivery not found"


class GuardrailNotFound(NotFound):
    slug, title = "guardrail-not-found", "Guardrail not found"


class AlertNotActive(Conflict):
    slug, title = "alert-not-active", "The alert is not active"


class AlertNotAcknowledged(Conflict):
    slug, title = "alert-not-acknowledged", "The alert is not acknowledged"


class WebhookRefused(Unprocessable):
    slug, title = "webhook-refused", "The webhook URL is not one Lodestar posts to"


class QuotaExceeded(Conflict):
    slug, title = "quota-exceeded", "The tenant's quota for this kind of object is used up"
