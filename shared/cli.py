"""`lodestar`: operator commands that need no running service."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from shared.auth import generate_key
from shared.kafka_acls import SERVICES, deployment_acls, grant
from shared.kafka_auth import KafkaAuth
from shared.migrations import autogenerate
from shared.settings import Topics

app = typer.Typer(help="Lodestar operator commands", no_args_is_help=True)

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


@app.command("new-key")
def new_key() -> None:
    """Print a fresh API key, e.g. for LODESTAR_BOOTSTRAP_ADMIN_KEY."""
    key, _, _ = generate_key()
    typer.echo(key)


@app.command("revision")
def revision(service: str, message: str = typer.Option(..., "-m", "--message")) -> None:
    """Autogenerate an Alembic revision for SERVICE's tables."""
    location = SERVICES_DIR / service / "migrations"
    if not location.is_dir():
        raise typer.BadParameter(f"no migrations folder for service '{service}'")
    asyncio.run(autogenerate(location, message))


@app.command("kafka-grant")
def kafka_grant(
    bootstrap: str = typer.Option(..., help="the broker's address"),
    credentials: Path = typer.Option(..., help='JSON {"user": "password"}; "admin" is used'),
    prefix: str = typer.Option("", help="the deployment's topic prefix (LODESTAR_TOPICS__PREFIX)"),
) -> None:
    """Grant the deployment's ACLs (shared.kafka_acls): each service its topics and groups,
    every other user of CREDENTIALS but the admin writing kpi.measurements only."""
    users = json.loads(credentials.read_text())
    producers = sorted(set(users) - {"admin", *SERVICES})
    admin = KafkaAuth("SASL_PLAINTEXT", username="admin", password=users["admin"])
    acls = deployment_acls(Topics(prefix=prefix), producers=producers)
    asyncio.run(grant(bootstrap, admin, acls))
    typer.echo(f"kafka-grant: {len(acls)} ACLs; producers: {', '.join(producers)}", err=True)


if __name__ == "__main__":
    app()
