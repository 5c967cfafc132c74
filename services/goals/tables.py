"""The goals service's tables."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared.tables import infra_metadata


class GoalsTable(SQLModel, registry=registry()):
    """Base of this service's tables: its own metadata, apart from the other services'."""


metadata = [GoalsTable.metadata, infra_metadata]
