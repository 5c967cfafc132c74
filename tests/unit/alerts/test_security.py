"""The pure pieces of issue 18 in the alerts service: Standard Webhooks signatures against
fixed vectors (not against our own verify), replays refused, regexes in linear time, the
address rule of webhook destinations."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time

import pytest

from services.alerts.domain.matching import Matcher, MatchOp, parse_matcher
from services.alerts.domain.regex import MAX_PATTERN_CHARS, compile_anchored
from services.alerts.domain.webhooks import secret_key, sign, signed_headers, verify
from services.alerts.egress import is_public

# The example of the Standard Webhooks specification (standardwebhooks.com, "Verifying
# webhooks"), checked here with `openssl dgst -sha256 -mac HMAC`: secret, id, timestamp and
# body in, signature out.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


class TestSignature:
    def test_the_specification_example(self) -> None:
        assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE

    def test_a_vector_computed_from_the_definition(self) -> None:
        key = bytes(range(40))
        secret = "whsec_" + base64.b64encode(key).decode()
        body = '{"alerts":[],"status":"firing","é":"ü"}'.encode()
        signed = b"4f0c1f9e-delivery.1767225600." + body
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        expected = "v1," + base64.b64encode(digest).decode()
        assert sign(secret, "4f0c1f9e-delivery", 1767225600, body) == expected

    def test_the_headers_carry_id_timestamp_and_signature(self) -> None:
        headers = signed_headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
        assert headers == {
            "webhook-id": SPEC_ID,
            "webhook-timestamp": str(SPEC_TIMESTAMP),
            "webhook-signature": SPEC_SIGNATURE,
        }

    def test_a_replayed_post_is_refused(self) -> None:
        headers = signed_headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
        # At the time it was made, it verifies; replayed ten minutes later, it does not.
        assert verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 10)
        assert not verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 600)
        # Nor can the replayer freshen the timestamp, or move the signature to another id.
        fresh = {**headers, "webhook-timestamp": str(int(time.time()))}
        assert not verify(SPEC_SECRET, fresh, SPEC_BODY, now=time.time())
        moved = {**headers, "webhook-id": "msg_other"}
        assert not verify(SPEC_SECRET, moved, SPEC_BODY, now=SPEC_TIMESTAMP)
        assert not verify(SPEC_SECRET, headers, SPEC_BODY + b" ", now=SPEC_TIMESTAMP)

    @pytest.mark.parametrize(
        "secret",
        ["a-long-enough-shared-secret", "whsec_!!!", "whsec_" + "A" * 8, "whsec_" + "A" * 100],
    )
    def test_secrets_that_are_not_whsec_base64_of_24_to_64_bytes_are_refused(
        self, secret: str
    ) -> None:
        with pytest.raises(ValueError, match="secret"):
            secret_key(secret)


class TestRegex:
    def test_a_catastrophic_pattern_answers_at_once(self) -> None:
        # On Python's `re` this takes longer than the test run; on RE2 microseconds.
        matcher = parse_matcher("label=~(x+x+)+y")
        started = time.perf_counter()
        assert not matcher.matches({"label": "x" * 40})
        assert not Matcher("label", MatchOp.RE, "(a*)*b").matches({"label": "a" * 100_000})
        assert time.perf_counter() - started < 0.5
        assert Matcher("label", MatchOp.NRE, "(x+x+)+y").matches({"label": "x" * 40})

    def test_patterns_are_anchored_like_alertmanager(self) -> None:
        assert Matcher("a", MatchOp.RE, "b.").matches({"a": "bc"})
        assert not Matcher("a", MatchOp.RE, "b.").matches({"a": "abc"})
        assert Matcher("a", MatchOp.RE, "x|y").matches({"a": "y"})

    @pytest.mark.parametrize("pattern", ["(a)\\1", "(?=a)", "(", "x" * (MAX_PATTERN_CHARS + 1)])
    def test_what_re2_cannot_run_in_linear_time_or_too_long_is_refused(self, pattern: str) -> None:
        with pytest.raises(ValueError, match="regex"):
            compile_anchored(pattern)

    def test_a_pattern_past_the_memory_budget_is_refused(self) -> None:
        with pytest.raises(ValueError, match="regex"):
            compile_anchored("((((a{100}){100}){100}){100})")


class TestDestinations:
    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ],
    )
    def test_internal_addresses_are_not_public(self, address: str) -> None:
        assert not is_public(ipaddress.ip_address(address))

    @pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "1.1.1.1"])
    def test_public_addresses_are(self, address: str) -> None:
        assert is_public(ipaddress.ip_address(address))
