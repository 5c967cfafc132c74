"""API shapes of the Alertmanager integration: a tenant's Alertmanager targets (`/v1`) and the
silence body of Alertmanager's API v2 (`/api/v2`, Alertmanager's `postableSilence`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.events import UtcDatetime

TargetMode = Literal["default", "own", "off"]


class AlertmanagerSettingsUpdate(BaseModel):
    """Where the tenant's alerts go: the deployment's Alertmanagers (`default`), the tenant's
    own `urls` (`own`), or nowhere (`off`)."""

    model_config = ConfigDict(extra="forbid")

    mode: TargetMode
    urls: Annotated[list[AnyHttpUrl], Field(max_length=10)] = Field(
        default_factory=list, description="Base URLs, each sent to; only with mode `own`"
    )

    @model_validator(mode="after")
    def _urls_with_own(self) -> Self:
        if (self.mode == "own") != bool(self.urls):
            raise ValueError("urls are required with mode 'own' and only with it")
        return self


class AlertmanagerSettingsRead(BaseModel):
    mode: TargetMode
    urls: list[str] = Field(description="The tenant's own Alertmanagers (mode `own`)")
    effective_urls: list[str] = Field(description="Where the tenant's alerts are posted now")


class AmMatcher(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, StringConstraints(min_length=1)]
    value: str
    isRegex: bool = False  # Alertmanager's field names, as they are on the wire
    isEqual: bool = True


class PostableSilence(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    matchers: Annotated[list[AmMatcher], Field(min_length=1)]
    startsAt: UtcDatetime | datetime
    endsAt: UtcDatetime | datetime
    createdBy: str
    comment: str = ""
