"""Checking tenant proofs reads the tenant from the fast decoder's own form of the record:
with proofs required (the production default) no record builds its pydantic objects."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from services.metrics import handlers
from services.metrics.codec import measurement_decoder
from shared import ingest_proof
from shared.auth import Scope
from shared.inbound import Inbound
from tests.support.events import measurement

SECRET_HASH = "h" * 64
KEYS = {
    "acmekey": ingest_proof.KeyInfo("acme", SECRET_HASH, frozenset({Scope.WRITE}), False),
    "otherkey": ingest_proof.KeyInfo("other", SECRET_HASH, frozenset({Scope.WRITE}), False),
}


class _Db:
    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        yield None


class _Runtime:
    db = _Db()


def _never_built(decoded: Any) -> Any:
    raise AssertionError("the pydantic objects were built to check a proof")


def signed(key_id: str) -> Inbound:
    value = measurement("acme", "mql", 1.0)
    header = ingest_proof.signature(key_id, SECRET_HASH, value)
    record = ConsumerRecord("t", 0, 0, 0, 0, None, value, None, 0, len(value), (header,))
    fast = measurement_decoder(4096)(record)
    return Inbound.deferred(record, fast.decoded, _never_built)


async def _keys(session: Any, key_ids: Iterable[str]) -> dict[str, ingest_proof.KeyInfo]:
    return {k: KEYS[k] for k in key_ids if k in KEYS}


async def test_proofs_are_checked_on_the_fast_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_proof, "load_keys", _keys)
    good, foreign = signed("acmekey"), signed("otherkey")
    rejected = await handlers.unproven(_Runtime(), [good, foreign])  # type: ignore[arg-type]
    assert [r.record for r in rejected] == [foreign.record]
    assert "not a key of tenant 'acme'" in rejected[0].reason
