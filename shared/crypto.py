"""Secrets at rest: what the services must read back (webhook secrets) is sealed with Fernet
(AES-128-CBC + HMAC-SHA256) under a key derived from `LODESTAR_SECRET_KEY`.

The setting is a random string of at least 32 characters (`lodestar new-secret-key`); each
use derives its own key from it (HMAC-SHA256 with a label), so the cursor signatures and the
sealed secrets never share a key. A service refuses to start without it (`require_secret`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

# How every sealed value starts (Fernet's version byte 0x80, base64).
FERNET_PREFIX = "gAAAAA"
MISSING = (
    "LODESTAR_SECRET_KEY is not set: it seals webhook secrets and signs page cursors. Make "
    "one with `lodestar new-secret-key` and give every service the same one"
)


def require_secret(secret: SecretStr | None) -> bytes:
    """The secret key's bytes; RuntimeError with what to do when it is missing or short."""
    if secret is None:
        raise RuntimeError(MISSING)
    value = secret.get_secret_value()
    if len(value) < 32:
        raise RuntimeError("LODESTAR_SECRET_KEY must have at least 32 characters")
    return value.encode()


def derive(secret: bytes, label: str) -> bytes:
    return hmac.new(secret, label.encode(), hashlib.sha256).digest()


def _fernet(secret: SecretStr | None) -> Fernet:
    key = derive(require_secret(secret), "lodestar sealed secrets v1")
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: SecretStr | None, plain: str) -> str:
    return _fernet(secret).encrypt(plain.encode()).decode()


def unseal(secret: SecretStr | None, token: str) -> str:
    """The plain text of a sealed value; ValueError if another key sealed it or it is not one."""
    try:
        return _fernet(secret).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("the sealed value does not open with LODESTAR_SECRET_KEY") from exc
