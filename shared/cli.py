"""`lodestar`: operator commands that need no running service."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import typer

from shared.auth import generate_key
from shared.migrations import autogenerate

app = typer.Typer(help="Lodestar operator commands", no_args_is_help=True)

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


@app.command("new-key")
def new_key() -> None:
    """Print a fresh API key, e.g. for LODESTAR_BOOTSTRAP_ADMIN_KEY."""
    key, _, _ = generate_key()
    typer.echo(key)


@app.command("new-secret-key")
def new_secret_key() -> None:
    """Print a fresh LODESTAR_SECRET_KEY (256 random bits)."""
    typer.echo(secrets.token_urlsafe(32))


@app.command("revision")
def revision(service: str, message: str = typer.Option(..., "-m", "--message")) -> None:
    """Autogenerate an Alembic revision for SERVICE's tables."""
    location = SERVICES_DIR / service / "migrations"
    if not location.is_dir():
        raise typer.BadParameter(f"no migrations folder for service '{service}'")
    asyncio.run(autogenerate(location, message))


if __name__ == "__main__":
    app()
