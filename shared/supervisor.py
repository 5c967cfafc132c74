"""Background loops that restart when they crash and say so in `/readyz`.

A loop that dies silently while the service looks healthy is the worst failure a consumer
can have; each loop here is restarted with exponential backoff, logs each distinct error once,
and reports `failing` until it runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger(__name__)

LoopFactory = Callable[[], Awaitable[None]]


@dataclass
class LoopState:
    name: str
    running: bool = False
    restarts: int = 0
    last_error: str | None = None
    seen_errors: set[str] = field(default_factory=set)


class Supervisor:
    def __init__(self, *, min_backoff_s: float = 0.2, max_backoff_s: float = 15.0) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.states: dict[str, LoopState] = {}
        self._min_backoff = min_backoff_s
        self._max_backoff = max_backoff_s

    def start(self, name: str, factory: LoopFactory) -> None:
        """Run `factory()` until the supervisor stops, restarting it whenever it raises."""
        state = self.states[name] = LoopState(name)
        self._tasks[name] = asyncio.create_task(self._supervise(state, factory), name=name)

    async def _supervise(self, state: LoopState, factory: LoopFactory) -> None:
        backoff = self._min_backoff
        while True:
            state.running = True
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                state.running = False
                state.restarts += 1
                signature = f"{type(exc).__name__}: {exc}"
                state.last_error = signature
                if signature not in state.seen_errors:
                    state.seen_errors.add(signature)
                    log.exception("loop_crashed", loop=state.name, restart_in_s=backoff)
                else:
                    log.debug("loop_crashed_again", loop=state.name, error=signature)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                state.running = False

    def failing(self) -> list[str]:
        """Names of the loops that are not running (crashed and waiting to restart)."""
        return [name for name, state in self.states.items() if not state.running]

    async def stop(self, names: list[str] | None = None, timeout_s: float = 10.0) -> None:
        """Wait for loops already told to stop (all, or `names`) to finish, then cancel what
        is left of them."""
        chosen = list(self._tasks) if names is None else [n for n in names if n in self._tasks]
        tasks = [self._tasks.pop(name) for name in chosen]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pending, return_exceptions=True)


class RepeatedErrors:
    """Logs a failure that repeats (a retry loop's) once, not once per retry: the first
    occurrence with its traceback, then, when the error changes or the loop recovers, one line
    with how many times the previous one repeated."""

    def __init__(self, event: str, **context: Any) -> None:
        self._event = event
        self._context = context
        self._signature: str | None = None
        self._count = 0
        self.since: float | None = None  # monotonic time of the first failure in this run

    def failed(self, exc: BaseException, **fields: Any) -> None:
        # The message's start: enough to tell errors apart, not the parts that vary per try.
        signature = f"{type(exc).__name__}: {exc}"[:200]
        if self.since is None:
            self.since = time.monotonic()
        if signature == self._signature:
            self._count += 1
            return
        self._summarise()
        self._signature, self._count = signature, 1
        log.warning(self._event, error=signature, exc_info=exc, **self._context, **fields)

    def recovered(self) -> None:
        """The loop works again: say so, with the count of the last error."""
        if self._signature is None:
            return
        failing_s = time.monotonic() - self.since if self.since is not None else 0.0
        log.info(
            f"{self._event}_recovered",
            error=self._signature,
            repeated=self._count,
            failing_s=round(failing_s, 1),
            **self._context,
        )
        self._signature, self._count, self.since = None, 0, None

    def _summarise(self) -> None:
        if self._signature is not None and self._count > 1:
            log.warning(
                f"{self._event}_repeated",
                error=self._signature,
                repeated=self._count,
                **self._context,
            )


class BackgroundLoop:
    """The base of a service's background loops (timers, senders, the inbox pruner): `run()`
    works until `request_stop()`, and sleeps between rounds with `pause()`, which a stop or a
    `wake()` cuts short."""

    def __init__(self) -> None:
        self.stopping = False
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        self.stopping = True
        self._wake.set()

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()
