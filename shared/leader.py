"""Leader election for the loops one replica at a time must run: the outbox relay, the inbox
pruner, the timers and the senders, each a `SingletonLoop`.

On PostgreSQL each such loop runs inside a `Leadership`: a dedicated connection, held for as
long as the replica leads, on which `pg_try_advisory_lock` took the loop's lock. Only the
replica holding it runs the loop; the others retry every `retry_s` (0.5 s). The lock is the
server's record of the connection, so

- a leader that stops cleanly stops its loop first (its last round finished: a relay's sends
  acknowledged, a sender's outcomes recorded), then unlocks, and a survivor takes over within
  `retry_s`;
- a leader that dies (SIGKILL, a lost host) loses its connection with it: the server ends the
  session and frees the lock at once (the kernel closes the socket; the backend, idle in a
  read, sees it), and a survivor takes over within `retry_s`;
- a leader that loses its connection while alive (the server restarted, the session
  terminated) notices at its next `check_s` probe, cancels its loop and competes again.

Why this keeps per-key order, and `FOR UPDATE SKIP LOCKED` would not: the relay publishes the
outbox in `seq` order and deletes each row after the broker's acknowledgement, with one
idempotent producer whose sends per partition keep their order. Several relays claiming rows
with SKIP LOCKED would each publish a disjoint slice at its own pace, so two events of one key
could reach their partition in either order. One relay at a time never publishes a row before
an earlier one; a new leader starts with every row not yet deleted, oldest first, so what a
hand-over can add is a repeat of the dead leader's in-flight rows (the same event ids, which
consumers deduplicate), never a newer event ahead of an older one. The same holds for the
webhook sender (one alert's deliveries posted in the order written). The one window with two
loops at once is a live leader cut off from the server: it stops within `check_s` plus the
probe's timeout, while a survivor may have started.

On SQLite there is no election: a second process on the file is refused at start
(`shared.db.SqliteFileLock`), so the one process runs every loop.

The lock connection of a loop that works off the outbox (the relay, the senders) also LISTENs
on `lodestar_outbox`, which every transaction adding outbox rows NOTIFYs, so the leader wakes
for rows another replica wrote as for its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from typing import Any, Protocol

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from shared.supervisor import RepeatedErrors

log = structlog.get_logger(__name__)

WAKE_CHANNEL = "lodestar_outbox"


class SingletonLoop(Protocol):
    """A background loop run by one replica at a time: `run()` works until `request_stop()`;
    a cancellation may cut it anywhere (it is then run again, here or elsewhere)."""

    @property
    def stopping(self) -> bool: ...

    def request_stop(self) -> None: ...

    def wake(self) -> None: ...

    async def run(self) -> None: ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name` (the same in every replica)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


class Leadership:
    """Runs `loop` while this replica holds the advisory lock `lock_name` (see the module)."""

    def __init__(
        self,
        database_url: str,
        lock_name: str,
        loop: SingletonLoop,
        *,
        retry_s: float = 0.5,
        check_s: float = 0.5,
        wake_channel: str | None = None,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self.lock_name = lock_name
        self._key = lock_key(lock_name)
        self._loop = loop
        self._retry_s = retry_s
        self._check_s = check_s
        self._wake_channel = wake_channel
        self._stop = asyncio.Event()
        self._errors = RepeatedErrors("leadership_failed", loop=lock_name)
        self.leading = False
        self.terms = 0  # how many times this replica became the leader

    def request_stop(self) -> None:
        self._stop.set()
        self._loop.request_stop()

    @property
    def _stopping(self) -> bool:
        return self._stop.is_set() or self._loop.stopping

    async def run(self) -> None:
        while not self._stopping:
            conn = await self._acquire()
            if conn is None:
                return
            try:
                await self._lead(conn)
            finally:
                self.leading = False
                await self._release(conn)

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self._retry_s)

    async def _acquire(self) -> Any:
        """The connection holding the lock, once taken; None when stopping first."""
        conn: Any = None
        while not self._stopping:
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(
                        self._dsn,
                        timeout=5,
                        server_settings={
                            # Who holds which lock, in pg_stat_activity (the tests read it).
                            "application_name": f"lodestar-leader:{self.lock_name}:{os.getpid()}"
                        },
                    )
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key):
                    self._errors.recovered()
                    return conn
            except Exception as exc:
                self._errors.failed(exc, retry_in_s=self._retry_s)
                await _close(conn)
                conn = None
            await self._pause()
        await _close(conn)
        return None

    async def _lead(self, conn: Any) -> None:
        self.leading = True
        self.terms += 1
        log.info("leadership_acquired", loop=self.lock_name)
        if self._wake_channel is not None:
            await conn.add_listener(self._wake_channel, lambda *_: self._loop.wake())
        task = asyncio.create_task(self._loop.run(), name=f"leader:{self.lock_name}")
        try:
            while True:
                done, _ = await asyncio.wait([task], timeout=self._check_s)
                if done:
                    task.result()  # a crash propagates: the lock is freed, the supervisor retries
                    log.info("leadership_released", loop=self.lock_name)
                    return
                try:
                    async with asyncio.timeout(max(self._check_s * 4, 2.0)):
                        await conn.fetchval("SELECT 1")
                except Exception as exc:
                    log.warning("leadership_lost", loop=self.lock_name, error=str(exc))
                    return
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _release(self, conn: Any) -> None:
        """Unlock and close; closing alone frees the lock too, so errors here are moot."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await conn.fetchval("SELECT pg_advisory_unlock($1)", self._key)
        await _close(conn)


async def _close(conn: Any) -> None:
    if conn is None:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            await conn.close()
    if not conn.is_closed():
        conn.terminate()
