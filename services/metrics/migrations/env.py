"""Alembic environment of the metrics service (driven by shared.migrations)."""

from services.metrics.tables import metadata
from shared.migrations import run_env

run_env(metadata)
