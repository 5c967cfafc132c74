"""Errors of the goals service, each with its status and problem type.

NotFound (404)        ApiKeyNotFound, CycleNotFound, TeamNotFound, ObjectiveNotFound,
                      KeyResultNotFound, InitiativeNotFound — absent or another tenant's
Conflict (409)        CycleClosed (no edits of a closed cycle), CycleTransition,
                      AlignmentCycle (a loop in objectives or teams), AlreadyCarried,
                      NameTaken, NotClosed, KeyResultGraduated (closed as achieved),
                      FollowsKpi (a linked KR's value comes from its KPI)
Unprocessable (422)   InvalidKeyResult (target = start, bounds, kind), WindowOutsideCycle,
                      InvalidCycle, InvalidAlignment, UnknownKpi, KpiHasNoValue
ProblemError (503)    MetricsUnavailable — the metrics service could not answer a KPI lookup
"""

from __future__ import annotations

from shared.errors import Conflict, NotFound, ProblemError, Unprocessable


class ApiKeyNotFound(NotFound):
    slug, title = "api-key-not-found", "API key not found"


class BootstrapKeyManaged(Conflict):
    slug, title = "bootstrap-key", "The bootstrap key is managed by settings"


class KeyIdCollision(Conflict):
    slug, title = "key-id-taken", "The new key's id is another key's"


class QuotaExceeded(Conflict):
    slug, title = "quota-exceeded", "The tenant's quota for this kind of object is used up"


class CycleNotFound(NotFound):
    slug, title = "cycle-not-found", "Cycle not found"


class TeamNotFound(NotFound):
    slug, title = "team-not-found", "Team not found"


class ObjectiveNotFound(NotFound):
    slug, title = "objective-not-found", "Objective not found"


class KeyResultNotFound(NotFound):
    slug, title = "key-result-not-found", "Key result not found"


class InitiativeNotFound(NotFound):
    slug, title = "initiative-not-found", "Initiative not found"


class CycleClosed(Conflict):
    slug, title = "cycle-closed", "The cycle is closed"


class CycleTransition(Conflict):
    slug, title = "cycle-transition", "The cycle cannot move to that state"


class NotClosed(Conflict):
    slug, title = "cycle-not-closed", "Scores exist only once the cycle is closed"


class AlignmentCycle(Conflict):
    slug, title = "alignment-cycle", "That parent would make a loop"


class AlreadyCarried(Conflict):
    slug, title = "already-carried", "The objective was already carried over"


class NameTaken(Conflict):
    slug, title = "name-taken", "The name is already used"


class InvalidKeyResult(Unprocessable):
    slug, title = "invalid-key-result", "The key result is not valid"


class WindowOutsideCycle(Unprocessable):
    slug, title = "window-outside-cycle", "The key result's dates lie outside its cycle"


class InvalidCycle(Unprocessable):
    slug, title = "invalid-cycle", "The cycle is not valid"


class InvalidAlignment(Unprocessable):
    slug, title = "invalid-alignment", "The parent or owner is not valid"


class KeyResultGraduated(Conflict):
    slug, title = "key-result-graduated", "The key result graduated and is closed as achieved"


class FollowsKpi(Conflict):
    slug, title = "follows-kpi", "The key result's value follows its KPI"


class UnknownKpi(Unprocessable):
    slug, title = "unknown-kpi", "Unknown KPI"


class KpiHasNoValue(Unprocessable):
    slug, title = "kpi-has-no-value", "KPI has no value yet to start from"


class MetricsUnavailable(ProblemError):
    status, slug, title = 503, "metrics-unavailable", "The metrics service is unavailable"
