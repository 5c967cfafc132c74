"""API keys: format, hashing and the scope order."""

from __future__ import annotations

import pytest

from shared.auth import KEY_PREFIX, Principal, Scope, generate_key, hash_secret, parse_key
from shared.errors import Unauthorized


def test_a_generated_key_parses_back_to_its_id_and_hash() -> None:
    key, key_id, secret_hash = generate_key()
    assert key.startswith(f"{KEY_PREFIX}_")
    parsed_id, secret = parse_key(key)
    assert parsed_id == key_id
    assert hash_secret(secret) == secret_hash
    assert secret not in secret_hash


def test_keys_are_unique() -> None:
    assert len({generate_key()[0] for _ in range(200)}) == 200


@pytest.mark.parametrize("key", ["", "lsk", "lsk_", "lsk_abc", "xyz_abc_def", "lsk__secret"])
def test_malformed_keys_are_unauthorized(key: str) -> None:
    with pytest.raises(Unauthorized):
        parse_key(key)


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        ({Scope.READ}, Scope.READ, True),
        ({Scope.READ}, Scope.WRITE, False),
        ({Scope.WRITE}, Scope.READ, True),
        ({Scope.WRITE}, Scope.ADMIN, False),
        ({Scope.ADMIN}, Scope.WRITE, True),
    ],
)
def test_scopes_imply_the_ones_below(held: set[Scope], needed: Scope, allowed: bool) -> None:
    assert Principal("acme", "k", frozenset(held)).allows(needed) is allowed
