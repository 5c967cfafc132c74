"""Rotating LODESTAR_BOOTSTRAP_ADMIN_KEY revokes the previous key everywhere, and a key id
is never taken over by another key (issue 18)."""

from __future__ import annotations

import pytest

from services.goals.app import create_app as create_goals
from services.goals.settings import GoalsSettings
from services.metrics.app import create_app as create_metrics
from services.metrics.settings import MetricsSettings
from shared.auth import (
    KeyIdTaken,
    Scope,
    authenticate,
    generate_key,
    hash_secret,
    install_bootstrap_key,
    parse_key,
    upsert_api_key,
)
from shared.errors import Unauthorized
from shared.events import ApiKeyV1
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.support.apps import running, service_settings
from tests.support.kafka import wait_until

pytestmark = pytest.mark.kafka


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_new_bootstrap_key_revokes_the_old_one_on_every_service(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory
) -> None:
    old, new = generate_key()[0], generate_key()[0]
    goals_url, metrics_url = await databases.new(), await databases.new()

    def goals_settings(key: str) -> GoalsSettings:
        return service_settings(
            GoalsSettings, bootstrap=kafka_bootstrap, topics=topics,
            database_url=goals_url, admin_key=key,
        )  # fmt: skip

    metrics_settings = service_settings(
        MetricsSettings, bootstrap=kafka_bootstrap, topics=topics,
        database_url=metrics_url, admin_key=old,
    )  # fmt: skip
    # metrics keeps running on the old settings throughout: only goals is restarted.
    async with running(create_metrics(metrics_settings), old) as metrics:
        async with running(create_goals(goals_settings(old)), old) as goals:
            assert (await goals.client.get("/v1/api-keys")).status_code == 200
            assert (await metrics.client.get("/v1/kpis")).status_code == 200

        async with running(create_goals(goals_settings(new)), new) as goals:
            assert (await goals.client.get("/v1/api-keys")).status_code == 200
            assert (await goals.client.get("/v1/api-keys", headers=bearer(old))).status_code == 401

            async def refused_on_metrics() -> bool:
                answer = await metrics.client.get("/v1/kpis", headers=bearer(old))
                return answer.status_code == 401

            await wait_until(refused_on_metrics, what="the old key's revocation on metrics")
            listed = (await goals.client.get("/v1/api-keys")).json()
            by_id = {k["key_id"]: k for k in listed}
            assert by_id[parse_key(old)[0]]["revoked_at"] is not None
            assert by_id[parse_key(new)[0]]["revoked_at"] is None

    # metrics restarted on the new key takes it, and the old one stays revoked.
    metrics_settings.bootstrap_admin_key = service_settings(
        MetricsSettings, bootstrap=kafka_bootstrap, topics=topics,
        database_url=metrics_url, admin_key=new,
    ).bootstrap_admin_key  # fmt: skip
    async with running(create_metrics(metrics_settings), new) as metrics:
        assert (await metrics.client.get("/v1/kpis")).status_code == 200
        assert (await metrics.client.get("/v1/kpis", headers=bearer(old))).status_code == 401


async def test_a_colliding_key_id_changes_nothing(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = service_settings(
        MetricsSettings, bootstrap=kafka_bootstrap, topics=topics,
        database_url=await databases.new(), admin_key=admin_key,
    )  # fmt: skip
    async with running(create_metrics(settings), admin_key) as metrics:
        key_id, secret = parse_key(admin_key)
        intruder = f"lsk_{key_id}_{generate_key()[0].split('_', 2)[2]}"
        forged = ApiKeyV1(
            key_id=key_id,
            tenant="globex",
            name="bootstrap admin",
            secret_hash=hash_secret(parse_key(intruder)[1]),
            scopes=[Scope.ADMIN],
        )
        async with metrics.runtime.db.transaction() as session:
            assert not await upsert_api_key(session, forged)
            # The same key again (another event about it) is applied.
            same = forged.model_copy(update={"tenant": "acme", "secret_hash": hash_secret(secret)})
            assert await upsert_api_key(session, same)
            with pytest.raises(KeyIdTaken):
                await install_bootstrap_key(session, "globex", intruder)
        async with metrics.runtime.db.session() as session:
            principal = await authenticate(session, f"Bearer {admin_key}")
            assert principal.tenant == "acme"
            with pytest.raises(Unauthorized):
                await authenticate(session, f"Bearer {intruder}")
        assert (await metrics.client.get("/v1/kpis")).status_code == 200
