"""`lodestar`: operator commands that need no running service."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import typer

from shared.auth import generate_key
from shared.kafka_acls import SERVICES, deployment_acls, grant
from shared.kafka_auth import KafkaAuth
from shared.migrations import autogenerate
from shared.settings import ServiceSettings, Topics

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


@app.command("kafka-grant")
def kafka_grant(
    bootstrap: str = typer.Option(..., help="the broker's address"),
    credentials: Path | None = typer.Option(
        None, help='JSON {"user": "password"} (kafka.sh\'s); without: LODESTAR_KAFKA_* settings'
    ),
    producer: list[str] = typer.Option(
        [],
        help="an external producer's user (with --credentials: every user but the admin "
        "and the services')",
    ),
    prefix: str = typer.Option("", help="the deployment's topic prefix (LODESTAR_TOPICS__PREFIX)"),
) -> None:
    """Grant the deployment's ACLs (shared.kafka_acls): each service its topics and groups,
    each producer writing kpi.measurements only. Run as the broker's admin: the "admin" of
    CREDENTIALS, or the principal of the LODESTAR_KAFKA_* settings."""
    producers = set(producer)
    if credentials is not None:
        users = json.loads(credentials.read_text())
        producers |= set(users) - {"admin", *SERVICES}
        admin = KafkaAuth("SASL_PLAINTEXT", username="admin", password=users["admin"])
    else:
        admin = ServiceSettings().kafka_auth
    acls = deployment_acls(Topics(prefix=prefix), producers=sorted(producers))
    asyncio.run(grant(bootstrap, admin, acls))
    typer.echo(
        f"kafka-grant: {len(acls)} ACLs; producers: {', '.join(sorted(producers))}", err=True
    )


if __name__ == "__main__":
    app()
