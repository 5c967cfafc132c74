"""Alembic environment of the alerts service (driven by shared.migrations)."""

from services.alerts.tables import metadata
from shared.migrations import run_env

run_env(metadata)
