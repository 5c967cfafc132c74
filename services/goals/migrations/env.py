"""Alembic environment of the goals service (driven by shared.migrations)."""

from services.goals.tables import metadata
from shared.migrations import run_env

run_env(metadata)
