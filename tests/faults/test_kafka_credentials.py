"""Producer credentials on a broker of the test's own: `kafka.sh add-user` makes a user that may
write `kpi.measurements` and nothing else, running it again rotates the password (the old one
is refused from then on), `kafka.sh remove-user` takes the user away (README "Security")."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from shared.kafka_auth import KafkaAuth
from tests.support.accounting import create_topics
from tests.support.kafka import passwords
from tests.support.private import PrivateBroker

pytestmark = [pytest.mark.kafka, pytest.mark.faults]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    private = PrivateBroker(tmp_path / "cache")
    try:
        yield private
    finally:
        private.stop()


async def _write(bootstrap: str, user: str, password: str, topic: str) -> str:
    """'ok', 'refused' (authenticated, not authorised) or 'unauthenticated'."""
    options = KafkaAuth("SASL_PLAINTEXT", username=user, password=password).client_options()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000, **options)
    try:
        try:
            await asyncio.wait_for(producer.start(), 30)
        except KafkaError:
            return "unauthenticated"
        await asyncio.wait_for(producer.send_and_wait(topic, b"probe", key=b"k"), 30)
    except TopicAuthorizationFailedError:
        return "refused"
    finally:
        await producer.stop()
    return "ok"


@pytest.mark.timeout(300)
async def test_a_producer_credential_is_added_rotated_and_removed(broker: PrivateBroker) -> None:
    bootstrap = broker.start()
    # The private broker's deployment has no topic prefix: the ACLs are on these names.
    await create_topics(bootstrap, ["kpi.measurements", "tenants"])
    broker.add_user("crm-sync")
    first = passwords(bootstrap)["crm-sync"]
    assert await _write(bootstrap, "crm-sync", first, "kpi.measurements") == "ok"
    assert await _write(bootstrap, "crm-sync", first, "tenants") == "refused"

    broker.add_user("crm-sync")  # a rotation
    second = passwords(bootstrap)["crm-sync"]
    assert second != first
    assert await _write(bootstrap, "crm-sync", first, "kpi.measurements") == "unauthenticated"
    assert await _write(bootstrap, "crm-sync", second, "kpi.measurements") == "ok"

    broker.remove_user("crm-sync")
    assert "crm-sync" not in passwords(bootstrap)
    assert await _write(bootstrap, "crm-sync", second, "kpi.measurements") == "unauthenticated"
