"""Errors of the metrics service, each with its status and problem type."""

from __future__ import annotations

from shared.errors import Conflict, NotFound


class KpiNotFound(NotFound):
    slug, title = "kpi-not-found", "KPI not found"


class KpiConflict(Conflict):
    slug, title = "kpi-exists", "A KPI with this key already exists"
