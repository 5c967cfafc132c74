"""API shapes of the goals service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from shared.auth import Scope


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    # Enums arrive as strings: strict models need them lax, per field.
    scopes: list[Annotated[Scope, Strict(False)]] = Field(min_length=1)


class ApiKeyRead(BaseModel):
    key_id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyIssued(ApiKeyRead):
    key: str = Field(description="The full key; shown once, never stored")
