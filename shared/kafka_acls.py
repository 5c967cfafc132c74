"""The broker's ACLs for one deployment: who may write and read which topic (README "Security").

    goals      writes tenants, okr.events                       reads kpi.values
    metrics    writes kpi.values, kpi.measurements (HTTP ingest) reads kpi.measurements,
                                                                 okr.events, tenants
    alerts     writes alerts                                    reads kpi.values, okr.events,
                                                                 tenants
    producer   writes kpi.measurements (an external producer; there may be several)

Each service may also write the dead-letter topics of what it consumes, create (and describe)
the deployment's topics (every service creates them all at start-up, `shared.topics`) and use
its own consumer groups (`<prefix>lodestar-<service>…`, a prefixed ACL). Nothing else is
allowed: the broker runs with `allow.everyone.if.no.acl.found=false`.

aiokafka's admin client has no call for ACLs, so they are sent as CreateAcls / DeleteAcls
requests (v1, which Kafka 4 still serves) through its connection. Granting an ACL that exists
is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest_v1, DeleteAclsRequest_v1
from aiokafka.protocol.api import Request

from shared.kafka_auth import KafkaAuth
from shared.settings import Topics


class ResourceType(IntEnum):
    TOPIC = 2
    GROUP = 3


class PatternType(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8


ALLOW = 3
# The release whose private `AIOKafkaAdminClient._send_request` and v1 ACL request structs this
# module uses (tests/unit/test_pinned_internals.py).
WRITTEN_AGAINST = {"aiokafka": "0.14.0"}
SERVICES = ("goals", "metrics", "alerts")


@dataclass(frozen=True, order=True)
class Acl:
    """Allow `principal` (a SCRAM user name) `operation` on a topic or group, from any host."""

    principal: str
    resource_type: ResourceType
    name: str
    operation: Operation
    pattern: PatternType = PatternType.LITERAL


def _topic(principal: str, names: Iterable[str], *ops: Operation) -> list[Acl]:
    return [Acl(principal, ResourceType.TOPIC, n, op) for n in names for op in ops]


def deployment_acls(
    topics: Topics,
    *,
    users: Mapping[str, str] | None = None,
    group_prefixes: Mapping[str, str] | None = None,
    producers: Iterable[str] = ("producer",),
) -> list[Acl]:
    """The ACLs of the deployment whose topic names `topics` gives. `users` maps a service to
    its principal (the service's name when absent); `group_prefixes` a service to the prefix
    of its consumer groups (`<topics.prefix>lodestar-<service>` when absent)."""
    measurements, kpi_values = topics.name(topics.measurements), topics.name(topics.kpi_values)
    okr_events, tenants = topics.name(topics.okr_events), topics.name(topics.tenants)
    alerts = topics.name(topics.alerts)
    owned = {
        "goals": [tenants, okr_events],
        "metrics": [kpi_values, measurements],
        "alerts": [alerts],
    }
    consumed = {
        "goals": [kpi_values],
        "metrics": [measurements, okr_events, tenants],
        "alerts": [kpi_values, okr_events, tenants],
    }
    every_topic = sorted(
        {measurements, kpi_values, okr_events, tenants, alerts}
        | {topics.dlq_for(name) for names in consumed.values() for name in names}
    )
    acls: list[Acl] = []
    for service in SERVICES:
        user = (users or {}).get(service, service)
        writes = owned[service] + [topics.dlq_for(name) for name in consumed[service]]
        group = (group_prefixes or {}).get(service, f"{topics.prefix}lodestar-{service}")
        acls += _topic(user, every_topic, Operation.CREATE, Operation.DESCRIBE)
        acls += _topic(user, writes, Operation.WRITE)
        acls += _topic(user, consumed[service], Operation.READ)
        acls.append(Acl(user, ResourceType.GROUP, group, Operation.READ, PatternType.PREFIXED))
    for producer in producers:
        acls += _topic(producer, [measurements], Operation.WRITE, Operation.DESCRIBE)
    return sorted(set(acls))


def _rows(acls: Iterable[Acl]) -> list[tuple[int, str, int, str, str, int, int]]:
    return [
        (a.resource_type, a.name, a.pattern, f"User:{a.principal}", "*", a.operation, ALLOW)
        for a in acls
    ]


# All the bindings in one CreateAcls or DeleteAcls (v1) request: aiokafka's own request classes
# take one binding each. A delete filter with every field given matches exactly one binding.
class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 30

    def __init__(self, acls: Iterable[Acl]) -> None:
        self._acls = list(acls)

    def build(self, request_struct_class: Any) -> Any:
        return request_struct_class(_rows(self._acls))


class _DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 31

    def __init__(self, acls: Iterable[Acl]) -> None:
        self._acls = list(acls)

    def build(self, request_struct_class: Any) -> Any:
        return request_struct_class(_rows(self._acls))


async def _send(bootstrap: str, auth: KafkaAuth, request: _CreateAcls | _DeleteAcls) -> Any:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="lodestar-acls", **auth.client_options()
    )
    await admin.start()
    try:
        return await admin._send_request(request)
    finally:
        await admin.close()


async def grant(bootstrap: str, auth: KafkaAuth, acls: Iterable[Acl]) -> None:
    """Create the ACLs (as a principal allowed to: the admin); raises on the first refusal."""
    wanted = list(acls)
    if not wanted:
        return
    response = await _send(bootstrap, auth, _CreateAcls(wanted))
    for acl, (code, message) in zip(wanted, response.creation_responses, strict=True):
        if code != 0:
            raise for_code(code)(f"cannot grant {acl}: {message}")


async def revoke(bootstrap: str, auth: KafkaAuth, acls: Iterable[Acl]) -> None:
    """Delete the ACLs (those that do not exist are no error)."""
    unwanted = list(acls)
    if not unwanted:
        return
    response = await _send(bootstrap, auth, _DeleteAcls(unwanted))
    for acl, (code, message, *_) in zip(unwanted, response.filter_responses, strict=True):
        if code != 0:
            raise for_code(code)(f"cannot revoke {acl}: {message}")
