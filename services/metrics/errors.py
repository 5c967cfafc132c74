"""Errors of the metrics service, each with its status and problem type."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, Unprocessable


class KpiNotFound(NotFound):
    slug, title = "kpi-not-found", "KPI not found"


class KpiConflict(Conflict):
    slug, title = "kpi-exists", "A KPI with this key already exists"


class SeriesInvalid(Unprocessable):
    slug, title = "series-invalid", "The series cannot be drawn as asked"


class UnknownKpis(Unprocessable):
    slug, title = "unknown-kpi", "A measurement names a KPI this tenant does not have"


class KpiPeriodLocked(Conflict):
    slug, title = "kpi-period-locked", "The period of a KPI with data cannot change"
