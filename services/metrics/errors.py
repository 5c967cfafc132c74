"""Errors of the metrics service, each with its status and problem type."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, ProblemError, Unprocessable


class KpiNotFound(NotFound):
    slug, title = "kpi-not-found", "KPI not found"


class QuotaExceeded(Conflict):
    slug, title = "quota-exceeded", "The tenant's quota for this kind of object is used up"


class KpiConflict(Conflict):
    slug, title = "kpi-exists", "A KPI with this key already exists"


class SeriesInvalid(Unprocessable):
    slug, title = "series-invalid", "The series cannot be drawn as asked"


class UnknownKpis(Unprocessable):
    slug, title = "unknown-kpi", "A measurement names a KPI this tenant does not have"


class KpiPeriodLocked(Conflict):
    slug, title = "kpi-period-locked", "The period of a KPI with data cannot change"


class IngestUnavailable(ProblemError):
    """The broker did not acknowledge the measurements in time; sent with `Retry-After`."""

    status, slug, title = 503, "ingest-unavailable", "The event broker is unavailable"


class GuardrailNotFound(NotFound):
    slug, title = "guardrail-not-found", "The KPI is no guardrail"
