"""Broker credentials from settings reach every client's options, and never a repr or log."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from shared.kafka_auth import KafkaAuth
from shared.settings import ServiceSettings


def test_no_username_is_plaintext_and_a_username_is_sasl_scram() -> None:
    assert ServiceSettings().kafka_auth.client_options() == {"security_protocol": "PLAINTEXT"}
    settings = ServiceSettings(kafka_username="goals", kafka_password=SecretStr("s3cret"))
    assert settings.kafka_auth.client_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "goals",
        "sasl_plain_password": "s3cret",
    }


def test_the_password_is_in_no_repr() -> None:
    settings = ServiceSettings(kafka_username="goals", kafka_password=SecretStr("s3cret"))
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in repr(settings.kafka_auth)


def test_sasl_without_credentials_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="LODESTAR_KAFKA_USERNAME"):
        KafkaAuth("SASL_SSL").client_options()


def test_tls_gets_a_verifying_context() -> None:
    options = KafkaAuth("SASL_SSL", username="u", password="p").client_options()
    assert options["ssl_context"].check_hostname
