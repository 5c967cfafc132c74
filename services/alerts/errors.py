"""Errors of the alerts service, each with its status and problem type."""

from __future__ import annotations

from shared.errors import NotFound


class RuleNotFound(NotFound):
    slug, title = "rule-not-found", "Alert rule not found"
