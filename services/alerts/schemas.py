"""API shapes of the alerts service: rules, alerts, silences, acks, settings, deliveries.

Every request holds `shared.bounds`: no NUL or lone surrogate in any string (names, labels,
annotations, matchers, comments), thresholds within ±1e15, timestamps from 1970 to 3000.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    UrlConstraints,
    field_validator,
    model_validator,
)

from services.alerts.domain.conditions import ChangeMode, ConditionKind, Operator
from services.alerts.domain.matching import Matcher, MatchOp, validate
from services.alerts.domain.webhooks import secret_key
from shared.bounds import BoundedFloat, SafeText
from shared.events import Slug, UtcDatetime

LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$")]
LabelValue = Annotated[str, StringConstraints(max_length=1024)]
Severity = Literal["info", "warning", "critical"]
Seconds = Annotated[float, Field(ge=0, le=366 * 86400)]
RESERVED_LABELS = frozenset({"alertname", "tenant", "severity", "kpi", "key_result", "objective"})


class _Strict(SafeText):
    model_config = ConfigDict(strict=True, extra="forbid")


class Selector(_Strict):
    """KPIs carrying every one of these tags."""

    tags: Annotated[list[Slug], Field(min_length=1, max_length=20)]


class Webhook(_Strict):
    """Where to POST this rule's alerts (Alertmanager webhook format), signed with `secret`
    as Standard Webhooks says (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The URL
    must be on a public address unless the deployment allows private ones."""

    url: Annotated[AnyHttpUrl, Field(strict=False), UrlConstraints(max_length=2048)]
    secret: Annotated[
        str,
        StringConstraints(min_length=38, max_length=100),
        Field(description="`whsec_` and the base64 of 24 to 64 random bytes"),
    ]

    @field_validator("secret")
    @classmethod
    def _standard_secret(cls, value: str) -> str:
        secret_key(value)
        return value


class WebhookRead(BaseModel):
    url: str
    has_secret: bool = True


class _RuleFields(_Strict):
    for_seconds: Seconds = Field(
        default=0.0, description="Pending until the condition has held this long"
    )
    keep_firing_for_seconds: Seconds = Field(
        default=0.0, description="Stay firing this long after the condition cleared (anti-flap)"
    )
    repeat_interval_seconds: Annotated[float, Field(ge=60, le=30 * 86400)] = Field(
        default=4 * 3600.0, description="Publish a still-firing alert again this often"
    )
    severity: Severity = "warning"
    labels: dict[LabelName, LabelValue] = Field(default_factory=dict, max_length=20)
    annotations: dict[LabelName, LabelValue] = Field(
        default_factory=dict,
        max_length=20,
        description="summary, description, runbook_url, …",
    )
    enabled: bool = True
    webhook: Webhook | None = None


class RuleCreate(_RuleFields):
    """A rule. Target exactly one of `kpi`, `key_result`, `objective` or `selector`.

    Conditions: `threshold` (operator above/below, strict; `resolve_threshold` for hysteresis:
    for `above` it must be ≤ threshold, for `below` ≥), `health` (KPI health `amber` = amber or
    red, or `red`), `status` (KR/objective status `at_risk` = at risk or off track, or
    `off_track`), `change` (over `window_seconds`, `absolute` or `percent`, compared with
    `threshold` by `operator`), `no_data` (nothing arrived for `no_data_seconds`). On other
    conditions `no_data_seconds` moves the alert to `no_data` after that long without data.
    Thresholds on a KR or objective apply to its progress (0.0 to 1.0).
    """

    name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_:.-]{0,199}$")]
    kpi: Slug | None = None
    key_result: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    objective: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    selector: Selector | None = None
    condition: Annotated[ConditionKind, Field(strict=False)] = ConditionKind.THRESHOLD
    operator: Annotated[Operator, Field(strict=False)] = Operator.ABOVE
    threshold: BoundedFloat | None = None
    resolve_threshold: BoundedFloat | None = None
    health: Literal["amber", "red"] | None = None
    status: Literal["at_risk", "off_track"] | None = None
    window_seconds: Annotated[float, Field(gt=0, le=366 * 86400)] | None = None
    change: Annotated[ChangeMode, Field(strict=False)] = ChangeMode.ABSOLUTE
    no_data_seconds: Annotated[float, Field(gt=0, le=366 * 86400)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        targets = [t for t in (self.kpi, self.key_result, self.objective, self.selector) if t]
        if len(targets) != 1:
            raise ValueError("give exactly one target: kpi, key_result, objective or selector")
        on_kpis = self.kpi is not None or self.selector is not None
        kind = self.condition
        if kind in (ConditionKind.THRESHOLD, ConditionKind.CHANGE) and self.threshold is None:
            raise ValueError(f"a {kind} condition needs a threshold")
        if kind is ConditionKind.HEALTH and (self.health is None or not on_kpis):
            raise ValueError("a health condition needs `health` (amber or red) and a KPI target")
        if kind is ConditionKind.STATUS and (self.status is None or on_kpis):
            raise ValueError("a status condition needs `status` and a key_result/objective target")
        if kind is ConditionKind.CHANGE and (self.window_seconds is None or not on_kpis):
            raise ValueError("a change condition needs `window_seconds` and a KPI target")
        if kind is ConditionKind.NO_DATA and (self.no_data_seconds is None or not on_kpis):
            raise ValueError("a no_data condition needs `no_data_seconds` and a KPI target")
        if self.resolve_threshold is not None and self.threshold is not None:
            above = self.operator is Operator.ABOVE
            if (above and self.resolve_threshold > self.threshold) or (
                not above and self.resolve_threshold < self.threshold
            ):
                raise ValueError(
                    "resolve_threshold must be on the clear side of threshold "
                    "(≤ for above, ≥ for below)"
                )
        clash = RESERVED_LABELS & set(self.labels)
        if clash:
            raise ValueError(f"labels {sorted(clash)} are set by Lodestar")
        return self


class RuleUpdate(_Strict):
    """Change a rule's timing, severity, labels, annotations, webhook or enabled flag; the
    target and condition are its identity (make a new rule to change them)."""

    for_seconds: Seconds | None = None
    keep_firing_for_seconds: Seconds | None = None
    repeat_interval_seconds: Annotated[float, Field(ge=60, le=30 * 86400)] | None = None
    severity: Severity | None = None
    labels: dict[LabelName, LabelValue] | None = None
    annotations: dict[LabelName, LabelValue] | None = None
    enabled: bool | None = None
    webhook: Webhook | None = None
    remove_webhook: bool = False

    @model_validator(mode="after")
    def _labels_free(self) -> Self:
        clash = RESERVED_LABELS & set(self.labels or {})
        if clash:
            raise ValueError(f"labels {sorted(clash)} are set by Lodestar")
        return self


class RuleRead(BaseModel):
    id: str
    name: str
    enabled: bool
    kpi: str | None
    key_result: str | None
    objective: str | None
    selector: Selector | None
    condition: ConditionKind
    operator: Operator
    threshold: float | None
    resolve_threshold: float | None
    health: str | None
    status: str | None
    window_seconds: float | None
    change: ChangeMode
    no_data_seconds: float | None
    for_seconds: float
    keep_firing_for_seconds: float
    repeat_interval_seconds: float
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    webhook: WebhookRead | None
    created_at: datetime
    updated_at: datetime


class AckRead(BaseModel):
    by: str
    at: datetime
    note: str | None
    expires_at: datetime | None


class AlertRead(BaseModel):
    fingerprint: str
    rule_id: str
    state: str
    subject_kind: str
    subject: str
    value: float | None
    starts_at: datetime | None = Field(description="When it fired (Alertmanager's startsAt)")
    ends_at: datetime | None = Field(description="When it resolved (endsAt)")
    active_since: datetime | None
    last_seen_at: datetime | None
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str
    silenced_by: list[str]
    inhibited: bool
    acknowledged: AckRead | None
    updated_at: datetime


class HistoryRead(BaseModel):
    kind: str = Field(description="transition, notified or acknowledged")
    from_state: str | None
    to_state: str | None
    value: float | None
    detail: str | None
    at: datetime


class AlertDetail(AlertRead):
    history: list[HistoryRead]


class AckCreate(_Strict):
    by: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="Who acknowledges; defaults to the API key's id"
    )
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None
    expires_at: Annotated[UtcDatetime | None, Field(strict=False)] = Field(
        default=None, description="When the acknowledgement lapses (RFC 3339); never by default"
    )
    ttl: Annotated[float, Field(gt=0, le=366 * 86400)] | None = Field(
        default=None, description="Seconds until it lapses (instead of `expires_at`)"
    )

    @model_validator(mode="after")
    def _one_expiry(self) -> Self:
        if self.expires_at is not None and self.ttl is not None:
            raise ValueError("give expires_at or ttl, not both")
        return self


class MatcherBody(_Strict):
    name: LabelName
    op: Annotated[MatchOp, Field(strict=False)] = MatchOp.EQ
    value: LabelValue

    @model_validator(mode="after")
    def _regex(self) -> Self:
        validate(Matcher(self.name, self.op, self.value))
        return self


class SilenceCreate(_Strict):
    """Alertmanager's silence: matchers, startsAt/endsAt, createdBy, comment."""

    matchers: Annotated[list[MatcherBody], Field(min_length=1, max_length=20)]
    starts_at: Annotated[UtcDatetime | None, Field(strict=False, alias="startsAt")] = None
    ends_at: Annotated[UtcDatetime, Field(strict=False, alias="endsAt")]
    created_by: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        alias="createdBy"
    )
    comment: Annotated[str, StringConstraints(max_length=2000)] = ""

    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)


class SilenceRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    matchers: list[MatcherBody]
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(alias="endsAt")
    created_by: str = Field(alias="createdBy")
    comment: str
    state: Literal["pending", "active", "expired"]


class SettingsRead(BaseModel):
    kpi_red: bool = Field(description="Built-in rule: a KPI entering red fires")
    kr_off_track: bool = Field(description="Built-in rule: a key result going off track fires")
    guardrail_breached: bool = Field(
        description=(
            "Built-in rule KpiGuardrailBreached: a KPI that became a guardrail when its key "
            "result graduated fires (warning) when its health leaves green, suggesting to "
            "promote it back to a key result"
        )
    )


class SettingsUpdate(_Strict):
    kpi_red: bool | None = None
    kr_off_track: bool | None = None
    guardrail_breached: bool | None = None


class GuardrailRead(BaseModel):
    """A KPI whose linked key result graduated: its health band holds the KR's target."""

    kpi: str
    key_result_id: str = Field(description="The key result that graduated (`graduated_from`)")
    kind: str = Field(description="The key result's kind (increase, keep_above, ...)")
    target: float
    bound_low: float | None
    bound_high: float | None
    periods_met: int = Field(description="Met periods in a row when it graduated")
    graduated_at: datetime


class DeliveryRead(BaseModel):
    id: str
    rule_id: str
    fingerprint: str
    alert_status: str
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
