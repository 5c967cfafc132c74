"""How every Kafka client of a service authenticates: SASL/SCRAM over plaintext or TLS (or
no authentication, for a broker that asks for none), from settings.

Every AIOKafka client the services build (`shared.producer`, `shared.consumer`,
`shared.topics`) takes its options from `KafkaAuth.client_options()`, so one set of settings
(`LODESTAR_KAFKA_*`) reaches them all. The broker's ACLs then decide what the principal may do
(`shared.kafka_acls`, README "Security").
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


@dataclass(frozen=True)
class KafkaAuth:
    """A principal's credentials and the transport to use; `password` is kept out of reprs."""

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for `AIOKafkaProducer`, `AIOKafkaConsumer` and the admin client."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL_"):
            if not self.username or self.password is None:
                raise ValueError(
                    f"{self.security_protocol} needs LODESTAR_KAFKA_USERNAME and "
                    "LODESTAR_KAFKA_PASSWORD"
                )
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.security_protocol.endswith("SSL"):
            options["ssl_context"] = self.ssl_context()
        return options

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the broker's certificate against `ssl_cafile` (the system's CAs without)."""
        context: ssl.SSLContext = create_ssl_context(cafile=self.ssl_cafile)
        return context
