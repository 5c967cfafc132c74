"""Errors of the goals service, each with its status and problem type."""

from __future__ import annotations

from shared.errors import NotFound


class ApiKeyNotFound(NotFound):
    slug, title = "api-key-not-found", "API key not found"
